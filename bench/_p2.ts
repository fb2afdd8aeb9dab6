import { LayerStats } from '../activities/sparsity/reference/layerStats';
function rng(seed: number) { let s = seed >>> 0; return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; }; }
const r = rng(1); const g = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
const T = 512, F = Number(process.argv[2] ?? 512), D = Number(process.argv[3] ?? 128);
const h = new Float32Array(T * F).map(() => Math.max(0, g()));
const w = new Float32Array(F * D).map(() => g() / Math.sqrt(D));
for (let rep = 0; rep < 4; rep++) {
  const s = new LayerStats(h, w, T, F, D);
  const t0 = performance.now(); (s as any).ensureOrders(); const t1 = performance.now(); (s as any).ensureCurves(); const t2 = performance.now();
  console.log('orders', (t1 - t0).toFixed(1), 'curves', (t2 - t1).toFixed(1));
}
