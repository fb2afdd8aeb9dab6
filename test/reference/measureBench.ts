// Cost of one sparsity measurement (`trainer.evaluate()` → `measureSparsity`) on a small trained MLP,
// the current implementation side by side with the frozen pre-optimisation one
// (test/reference/sparsity/), in one process, interleaved, so machine noise hits both alike.
//
//   npx tsx test/reference/measureBench.ts [--dModel 128] [--layers 2] [--ffnMult 4] [--valSize 512] [--steps 150]
//                            [--reps 7] [--activation relu] [--backend wasm|cpu|tensorflow] [--json]
//
// Per repetition: reference measureSparsity, new measureSparsity (same probe, same options as
// `evaluate()` passes), then `trainer.evaluate()` itself (its `measureSeconds` and wall time). Reports
// medians, the new/ref ratio, the forward passes each spent in the PPL search, and whether the two
// implementations agree (every metric but ppl-p% to 1e-9; ppl-p% may stop at another point inside the
// ±0.05 pp tolerance when its search differs).
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, initBackend, type BackendName } from '../../engine';
import { tinyMlpConfig , testPaths } from '../configs';
import { measureSparsity } from '../../engine/sparsity/metrics';
import { measureSparsity as measureReference } from './sparsity/metrics';
import type { SparsityProbe } from '../../engine/sparsity/probe';
import type { Activation, MlpModelConfig } from '../../domain/spec';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const METRICS = ['exact', 'fat-0.01', 'topk-0.1', 'cett-0.2', 'ppl-1%'];

async function main(): Promise<void> {
  const dModel = Number(arg('dModel', '128'));
  const nLayers = Number(arg('layers', '2'));
  const ffnMult = Number(arg('ffnMult', '4'));
  const valSize = Number(arg('valSize', '512'));
  const steps = Number(arg('steps', '150'));
  const reps = Number(arg('reps', '7'));
  const activation = arg('activation', 'relu') as Activation;
  const backendArg = arg('backend', '');
  const backend = await initBackend(backendArg === '' ? undefined : (backendArg as BackendName));

  const base = tinyMlpConfig({}, activation);
  const config = {
    ...base,
    model: { ...(base.model as MlpModelConfig), dModel, nLayers, ffnMult },
    data: { kind: 'teacher' as const, valSize },
    training: { steps, batchSize: 64, evalEvery: steps },
    measure: { metrics: METRICS, primary: 'ppl-1%' },
  };
  const trainer = await createTrainer(config, { paths: testPaths });
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await trainer.trainStep();
  const trainSeconds = (performance.now() - t0) / 1000;

  // The probe evaluate() measures through (private in NetworkTrainer; read, not changed).
  const inner = (trainer as unknown as { probe(): SparsityProbe }).probe();
  let calls = 0;
  let probeSeconds = 0;
  const timed = <T>(f: () => T): T => {
    const s = performance.now();
    try {
      return f();
    } finally {
      probeSeconds += (performance.now() - s) / 1000;
    }
  };
  const probe: SparsityProbe = {
    layers: inner.layers,
    capture: () => timed(() => inner.capture()),
    lossWithThresholds: (th) => {
      calls++;
      return timed(() => inner.lossWithThresholds(th));
    },
  };
  const options = { activation: config.model.activation, topK: config.model.topK };
  const run = (f: typeof measureSparsity) => {
    calls = 0;
    probeSeconds = 0;
    const s = performance.now();
    const r = f(probe, METRICS, 'ppl-1%', options);
    return { seconds: (performance.now() - s) / 1000, calls, probeSeconds, result: r };
  };

  // Warm-up (JIT, kernel compilation), not timed.
  run(measureReference);
  run(measureSparsity);
  await trainer.evaluate();

  const ref: number[] = [];
  const fast: number[] = [];
  const refProbe: number[] = [];
  const fastProbe: number[] = [];
  const evalMeasure: number[] = [];
  const evalWall: number[] = [];
  let refCalls = 0;
  let fastCalls = 0;
  let mismatch = 0;
  let worst = 0;
  for (let k = 0; k < reps; k++) {
    // Alternate which goes first, so neither always runs on a warmer cache.
    const [a, b] = k % 2 === 0 ? [run(measureReference), run(measureSparsity)] : (() => {
      const y = run(measureSparsity);
      return [run(measureReference), y];
    })();
    ref.push(a.seconds);
    fast.push(b.seconds);
    refProbe.push(a.probeSeconds);
    fastProbe.push(b.probeSeconds);
    refCalls = a.calls;
    fastCalls = b.calls;
    const s = performance.now();
    const e = await trainer.evaluate();
    evalWall.push((performance.now() - s) / 1000);
    evalMeasure.push(e.measureSeconds);
    for (const m of a.result.metrics) {
      const n = b.result.metrics.find((x) => x.metric === m.metric);
      if (m.metric.startsWith('ppl-')) {
        const ok = n !== undefined && (n.detail?.converged ?? 0) >= (m.detail?.converged ?? 0);
        if (!ok) mismatch++;
        continue;
      }
      const d = n === undefined ? Infinity : Math.abs(n.activationRatio - m.activationRatio);
      worst = Math.max(worst, d);
      if (d > 1e-9) mismatch++;
    }
    if (Math.abs(a.result.deadRatio - b.result.deadRatio) > 1e-12) mismatch++;
  }
  const last = run(measureSparsity).result;
  const lastRef = run(measureReference).result;

  const out = {
    backend,
    model: { dModel, nLayers, ffnMult, dFF: dModel * ffnMult, valTokens: valSize, activation, trainSteps: steps },
    trainSecondsPerStep: trainSeconds / steps,
    reps,
    referenceMedianS: median(ref),
    newMedianS: median(fast),
    speedup: median(ref) / median(fast),
    evaluate: { measureSecondsMedian: median(evalMeasure), wallMedianS: median(evalWall) },
    pplForwardPasses: { reference: refCalls, new: fastCalls },
    /** Of the measure time, the part spent inside the model (capture + lossWithThresholds). */
    probeMedianS: { reference: median(refProbe), new: median(fastProbe) },
    agreement: { mismatches: mismatch, worstRatioDiff: worst },
    metrics: {
      reference: lastRef.metrics.map((m) => ({ metric: m.metric, ratio: +m.activationRatio.toFixed(6), ...m.detail })),
      new: last.metrics.map((m) => ({ metric: m.metric, ratio: +m.activationRatio.toFixed(6), ...m.detail })),
    },
    rawSeconds: { reference: ref, new: fast },
  };
  if (process.argv.includes('--json')) console.log(JSON.stringify(out));
  else {
    console.log(`backend ${backend}; MLP dModel ${dModel}, ${nLayers} layers, dFF ${dModel * ffnMult}, ${valSize} val tokens, ${activation}; ${steps} train steps (${(1000 * out.trainSecondsPerStep).toFixed(1)} ms/step)`);
    console.log(`measureSparsity, median of ${reps}: reference ${(1000 * out.referenceMedianS).toFixed(0)} ms, new ${(1000 * out.newMedianS).toFixed(0)} ms → ${out.speedup.toFixed(2)}× faster`);
    console.log(`trainer.evaluate() (new): measureSeconds ${(1000 * out.evaluate.measureSecondsMedian).toFixed(0)} ms, wall ${(1000 * out.evaluate.wallMedianS).toFixed(0)} ms`);
    console.log(`PPL search forward passes: reference ${refCalls}, new ${fastCalls}; time inside the model (capture + passes): reference ${(1000 * out.probeMedianS.reference).toFixed(0)} ms, new ${(1000 * out.probeMedianS.new).toFixed(0)} ms`);
    console.log(`agreement: ${mismatch} mismatches, worst activation-ratio difference ${worst.toExponential(2)}`);
    for (const [name, ms] of Object.entries(out.metrics)) console.log(`  ${name.padEnd(9)} ${ms.map((m) => `${m.metric}=${m.ratio}`).join('  ')}`);
    const ppl = (ms: typeof out.metrics.new) => ms.find((m) => m.metric === 'ppl-1%');
    console.log(`  ppl-1% detail: reference ${JSON.stringify(ppl(out.metrics.reference))}; new ${JSON.stringify(ppl(out.metrics.new))}`);
  }
  trainer.dispose();
  void tf;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
