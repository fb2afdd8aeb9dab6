import { createTrainer } from '../activities/train';
import { tinyMlpConfig } from '../activities/train/testing/configs';
import { measureSparsity } from '../activities/sparsity/reference/metrics';
import { LayerStats } from '../activities/sparsity/reference/layerStats';
async function main() {
  const dModel = Number(process.argv[2] ?? 128);
  const cfg = tinyMlpConfig({ data: { kind: 'teacher', valSize: 512 }, training: { steps: 300, batchSize: 64, evalEvery: 300 },
    measure: { metrics: ['exact', 'fat-0.01', 'topk-0.1', 'cett-0.2', 'ppl-1%'], primary: 'ppl-1%' } } as any);
  cfg.model = { ...cfg.model, dModel, nLayers: 2, ffnMult: 4 } as any;
  const tr = await createTrainer(cfg);
  let t = performance.now();
  for (let i = 0; i < 100; i++) await tr.trainStep();
  console.log('train 100 steps', (performance.now() - t) / 1000);
  const probe = (tr as any).probe();
  let calls = 0; let lossT = 0;
  const p2 = { layers: probe.layers, capture: () => { const t0 = performance.now(); const c = probe.capture(); console.log('capture ms', performance.now() - t0); return c; },
    lossWithThresholds: (th: number[]) => { calls++; const t0 = performance.now(); const r = probe.lossWithThresholds(th); lossT += performance.now() - t0; return r; } };
  for (let k = 0; k < 3; k++) {
    calls = 0; lossT = 0;
    t = performance.now();
    const r = measureSparsity(p2, cfg.measure.metrics, cfg.measure.primary, { activation: 'relu' });
    console.log('measure', (performance.now() - t) / 1000, 'loss calls', calls, 'loss ms', lossT.toFixed(1), JSON.stringify(r.metrics.map(m=>[m.metric, m.activationRatio.toFixed(4), m.detail?.evaluations])));
  }
  // layer stats breakdown
  const cap = probe.capture();
  const {h, wDown} = cap.layers[0];
  const F = h.shape[1], T = h.shape[0], D = wDown.shape[1];
  const hs = h.dataSync() as Float32Array, ws = wDown.dataSync() as Float32Array;
  t = performance.now();
  const s = new LayerStats(hs, ws, T, F, D);
  (s as any).ensureOrders(); const t1 = performance.now();
  (s as any).ensureCurves(); const t2 = performance.now();
  s.cutForCett(0.2); s.topK(Math.ceil(0.1*F)); const t3 = performance.now();
  s.countActive((x) => x !== 0); const t4 = performance.now();
  console.log({T, F, D, orders: t1 - t, curves: t2 - t1, cutTopk: t3 - t2, countActive: t4 - t3});
}
main();
