// Sweep fits (analysis/sweepFits.ts) on synthetic sweeps: honest grouping (the issue's "Right
// values": runs that differ in pruning start only get one fit per start), bootstrap by default,
// sparse-chinchilla attempted or refused with a reason, and the Journey Matters comparison naming
// the N the runs were generated with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochGrid } from '../../analysis/chinchilla';
import { gaussian, rng } from '../../analysis/stats';
import { fitSweepData, journeyRowKey, type SweepData, type SweepPoint, type SweepRun } from '../../analysis/sweepFits';
import { fitRows } from '../../db/fits';

const STARTS = epochGrid().filter((_, i) => i % 25 === 0);

function config(o: { dModel?: number; start?: number; finalSparsity?: number; steps?: number; seed?: number }) {
  const pruned = (o.finalSparsity ?? 0.5) > 0;
  return {
    model: { family: 'mlp', activation: 'relu', topK: null, dModel: o.dModel ?? 64, nLayers: 2, ffnMult: 4, ffn: 'plain', inputDim: 32, outputDim: 16 },
    optim: { lr: 3e-3, schedule: 'cosine', warmup: 0.05 },
    training: { steps: o.steps ?? 600, batchSize: 64, evalEvery: 50 },
    pruning: { schedule: pruned ? 'cubic' : 'none', start: o.start ?? 0.25, end: 0.75, initialSparsity: 0, finalSparsity: o.finalSparsity ?? 0.5, every: 10, scope: 'global' },
    measure: { metrics: ['ppl-1%'], primary: 'ppl-1%' },
    seed: o.seed ?? 0,
  };
}

test('runs that differ in pruning start only get one curve fit per start, seeds pooled, bootstrap intervals', async () => {
  const u = rng(3);
  const runs: SweepRun[] = [];
  const points: SweepPoint[] = [];
  for (const start of [0.1, 0.25, 0.5]) for (const seed of [0, 1]) {
    const id = `s${start}-${seed}`;
    runs.push({ id, label: id, activation: 'relu', dModel: 64, nLayers: 2, pruning: 'cubic50', seed, linearParams: 1e5, avgNonzeroParams: 1e5 * (1 - 0.5 * (1 - start)), finalSparsity: 0.5, config: config({ start, seed }) });
    for (let step = 50; step <= 600; step += 50) {
      const t = step * 64;
      points.push({ runId: id, step, tokens: t, activationRatio: 0.1 + 0.2 * Math.exp(-(t / 1e4)) + (start / 10) + 0.002 * gaussian(u), valLoss: 2 + 1 / step, nonzeroParams: 5e4 });
    }
  }
  const data: SweepData = { sweepId: 'g', metric: 'ppl-1%', runs, points };
  const set = await fitSweepData(data, { bootstrap: 20, workers: 1, chinchillaStarts: STARTS, sparseStarts: 20 });
  const curves = set.fits.filter((f) => f.law === 'relu-logspace');
  assert.deepEqual(curves.map((f) => f.groupKey), ['0.1→·', '0.25→·', '0.5→·']);
  for (const f of curves) {
    assert.equal(f.runIds.length, 2, 'the two seeds are pooled');
    assert.equal(f.result.n, 24);
    assert.equal(f.result.ciMethod, 'bootstrap', 'bootstrap intervals by default');
    assert.match(f.note ?? '', /2 seeds pooled/);
  }
  // The cross-run laws pool pruning (through N̄): one chinchilla group; its bootstrap resamples runs.
  const chin = set.fits.filter((f) => f.law === 'chinchilla');
  assert.equal(chin.length, 1);
  assert.equal(chin[0].groupKey, 'all runs');
  assert.equal(chin[0].result.bootstrap?.unit, 'clusters');
  // Six runs for a law of 7 parameters: the sparse law is stored as failed, with the reason.
  const sparse = set.fits.find((f) => f.law === 'sparse-chinchilla');
  assert.equal(sparse?.result.status, 'failed');
  assert.match(sparse?.result.reason ?? '', /needs more than 7 points; got 6/);
  // No dense run: no Journey comparison, and a note that says so.
  assert.equal(set.journeys.length, 0);
  assert.ok(set.skipped.some((s) => /journey-matters all runs: needs dense and pruned runs \(0 dense, 6 pruned\)/.test(s)), set.skipped.join('\n'));
});

test('runs that differ in steps are different curves, not one pooled curve', async () => {
  const runs: SweepRun[] = [600, 1200].map((steps) => ({ id: `st${steps}`, label: `st${steps}`, activation: 'silu', dModel: 64, nLayers: 2, pruning: 'dense', seed: 0, linearParams: 1e5, avgNonzeroParams: 1e5, finalSparsity: 0, config: config({ steps, finalSparsity: 0 }) }));
  const points: SweepPoint[] = runs.flatMap((r) => Array.from({ length: 10 }, (_, i) => ({ runId: r.id, step: (i + 1) * 60, tokens: (i + 1) * 60 * 64, activationRatio: 0.4 - 0.1 / (i + 1), valLoss: 2 })));
  const set = await fitSweepData({ sweepId: 's', metric: 'ppl-1%', runs, points }, { bootstrap: 0, workers: 1, chinchillaStarts: STARTS });
  assert.deepEqual(set.fits.filter((f) => f.law === 'silu-power').map((f) => f.groupKey), ['steps=600', 'steps=1200']);
});

test('a sweep of dense and pruned runs gets the Journey Matters comparison, naming the N its losses follow', async () => {
  const LAW = { E: 1.7, A: 400, B: 1500, alpha: 0.34, beta: 0.28 };
  const u = rng(7);
  const runs: SweepRun[] = [];
  const points: SweepPoint[] = [];
  for (const dModel of [64, 128, 256]) for (const s of [0, 0.5, 0.75]) for (const steps of [1000, 4000, 16000]) {
    const id = `d${dModel}-s${s}-t${steps}`;
    const dense = 8 * dModel * dModel * 1000, avg = dense * (1 - 0.6 * s), fin = Math.round(dense * (1 - s));
    runs.push({ id, label: id, activation: 'relu', dModel, nLayers: 2, pruning: s ? `cubic${s * 100}` : 'dense', seed: 0, linearParams: dense, avgNonzeroParams: avg, finalSparsity: s, config: config({ dModel, finalSparsity: s, steps }) });
    const D = steps * 1e5;
    const L = (LAW.E + LAW.A / avg ** LAW.alpha + LAW.B / D ** LAW.beta) * Math.exp(0.003 * gaussian(u));
    points.push({ runId: id, step: steps / 2, tokens: D / 2, activationRatio: null, valLoss: L * 1.05, nonzeroParams: dense });
    points.push({ runId: id, step: steps, tokens: D, activationRatio: null, valLoss: L, nonzeroParams: fin });
  }
  const set = await fitSweepData({ sweepId: 'j', metric: 'ppl-1%', runs, points }, { bootstrap: 10, workers: 1, chinchillaStarts: STARTS, sparseStarts: 40 });
  assert.equal(set.journeys.length, 1);
  const j = set.journeys[0];
  assert.equal(j.groupKey, 'all runs');
  assert.equal(j.runs.length, 27);
  assert.equal(j.runs.find((r) => r.id === 'd64-s0.5-t1000')?.finalNonzero, Math.round(8 * 64 * 64 * 1000 * 0.5), 'N_final = the last point\'s non-zero count');
  assert.equal(j.comparison.status, 'ok', j.comparison.reason ?? '');
  assert.equal(j.comparison.bestByHeldOut, 'avg-nonzero', JSON.stringify(j.comparison.variants.map((v) => [v.n, v.heldOutLogError, v.aic])));
  // sparse-chinchilla has 3 sparsities, 9 N and 3 D: attempted, with a real status
  const sparse = set.fits.find((f) => f.law === 'sparse-chinchilla');
  assert.ok(sparse && sparse.result.status !== 'failed', sparse?.result.reason ?? 'no sparse fit');
  // Stored as four journey-matters rows: three fits with AIC and held-out error, and the verdict.
  const rows = fitRows(set).filter((r) => r.law === 'journey-matters');
  assert.deepEqual(rows.map((r) => r.groupKey), ['N=N̄', 'N=N_final', 'N=N_dense', 'verdict'].map((k) => `all runs | ${k}`));
  assert.deepEqual(rows.map((r) => r.groupKey), [...(['avg-nonzero', 'final-nonzero', 'dense'] as const).map((n) => journeyRowKey('all runs', n)), journeyRowKey('all runs', 'verdict')]);
  for (const r of rows.slice(0, 3)) assert.ok(Number.isFinite(r.aic) && Number.isFinite(r.heldoutError), JSON.stringify(r));
  assert.equal(rows[3].status, 'ok');
  assert.match(rows[3].note ?? '', /best by held-out error .*: N=N̄/);
});

test('curveFrom: curve laws use each run\'s points from that fraction of its steps on (the transient from initialisation left out)', async () => {
  // A ReLU curve that rises for the first 20% of training (the transient), then falls to a limit: fitted
  // whole, the falling law cannot follow it; from 25% on, it is the law's shape.
  const u = rng(9);
  const runs: SweepRun[] = [{ id: 'r', label: 'r', activation: 'relu', dModel: 64, nLayers: 2, pruning: 'dense', seed: 0, linearParams: 1e5, avgNonzeroParams: 1e5, finalSparsity: 0, config: config({ steps: 1000, finalSparsity: 0 }) }];
  const points: SweepPoint[] = Array.from({ length: 40 }, (_, i) => {
    const step = (i + 1) * 25;
    const t = step * 1000;
    const ratio = step < 200 ? 0.02 + 0.1 * (step / 200) : 0.08 + 0.1 * Math.exp(-((t / 2e5) ** 0.8)) + 0.001 * gaussian(u);
    return { runId: 'r', step, tokens: t, activationRatio: ratio, valLoss: 2, nonzeroParams: 1e5 };
  });
  const data: SweepData = { sweepId: 'c', metric: 'ppl-1%', runs, points };
  const whole = (await fitSweepData(data, { bootstrap: 0, workers: 1, chinchillaStarts: STARTS })).fits.find((f) => f.law === 'relu-logspace');
  const late = (await fitSweepData(data, { bootstrap: 0, workers: 1, chinchillaStarts: STARTS, curveFrom: 0.25 })).fits.find((f) => f.law === 'relu-logspace');
  assert.equal(whole?.result.n, 40);
  assert.equal(late?.result.n, 31, 'steps 250..1000');
  assert.match(late?.note ?? '', /31 eval points of 1 run\(s\) from 25% of training on/);
  assert.ok((late?.result.r2 ?? 0) > 0.9, `R² ${late?.result.r2}`);
  assert.ok((late?.result.r2 ?? 0) > (whole?.result.r2 ?? 1), 'the transient is what the whole-run fit cannot follow');
});
