// The Journey Matters comparison (analysis/journey.ts) on synthetic runs whose loss follows a
// known Chinchilla law in one definition of N: the comparison must name that one, and must name
// none when the runs cannot decide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareNDefinitions, type JourneyRun, type NDefinition } from '../../analysis/journey';
import { epochGrid } from '../../analysis/chinchilla';
import { gaussian, rng } from '../../analysis/stats';

const LAW = { E: 1.7, A: 400, B: 1500, alpha: 0.34, beta: 0.28 };
const STARTS = epochGrid().filter((_, i) => i % 25 === 0);

/** Dense sizes × final sparsities × token budgets; pruned runs spend 60% of training dense-ish (N̄ between the two). */
function runs(truth: NDefinition, seed: number, tokens = [3e9, 3e10]): JourneyRun[] {
  const u = rng(seed);
  const out: JourneyRun[] = [];
  for (const dense of [1e7, 3e7, 1e8, 3e8]) for (const s of [0, 0.5, 0.75]) for (const D of tokens) {
    const finalNonzero = dense * (1 - s), avgNonzero = dense * (1 - 0.6 * s);
    const N = truth === 'avg-nonzero' ? avgNonzero : truth === 'final-nonzero' ? finalNonzero : dense;
    const L = (LAW.E + LAW.A / N ** LAW.alpha + LAW.B / D ** LAW.beta) * Math.exp(0.003 * gaussian(u));
    out.push({ id: `d${dense}-s${s}-D${D}`, avgNonzero, finalNonzero, dense, tokens: D, loss: L });
  }
  return out;
}

test('runs generated with N̄ (or N_final) are best explained by that N, by held-out error and AIC', async () => {
  for (const truth of ['avg-nonzero', 'final-nonzero'] as const) {
    const c = await compareNDefinitions(runs(truth, 7), { starts: STARTS, workers: 1 });
    assert.equal(c.status, 'ok', `${c.reason}`);
    assert.equal(c.bestByHeldOut, truth, JSON.stringify(c.variants.map((v) => [v.n, v.heldOutLogError, v.aic])));
    assert.equal(c.bestByAic, truth);
    assert.equal(c.variants.length, 3);
    for (const v of c.variants) assert.equal(v.heldOut.length, 24);
  }
});

test('with one token budget the sub-model K + A/N^α still compares the definitions of N', async () => {
  const c = await compareNDefinitions(runs('avg-nonzero', 11, [1e10]), { starts: STARTS, workers: 1 });
  assert.equal(c.status, 'ok', `${c.reason}`);
  assert.equal(c.bestByHeldOut, 'avg-nonzero');
  for (const v of c.variants) assert.equal(v.k, 3);
});

test('too few runs, or no pruned runs to tell the definitions apart: no winner, and the reason', async () => {
  const few = await compareNDefinitions(runs('avg-nonzero', 3).slice(0, 5), { starts: STARTS, workers: 1 });
  assert.equal(few.status, 'failed');
  assert.match(few.reason ?? '', /5 runs: a comparison needs at least 7/);
  assert.equal(few.bestByHeldOut, null);
  assert.equal(few.bestByAic, null);
  // one model size: A and α are not identified under any definition
  const one = runs('avg-nonzero', 5).filter((r) => r.dense === 1e8 && r.finalNonzero === r.dense);
  const oneSize = [...one, ...one.map((r, i) => ({ ...r, id: `${r.id}-b${i}`, tokens: r.tokens * 2 })), ...one.map((r, i) => ({ ...r, id: `${r.id}-c${i}`, tokens: r.tokens * 4 })), ...one.map((r, i) => ({ ...r, id: `${r.id}-e${i}`, tokens: r.tokens * 8 }))];
  const c = await compareNDefinitions(oneSize, { starts: STARTS, workers: 1 });
  assert.equal(c.status, 'not-identified', `${c.reason}`);
  assert.equal(c.bestByHeldOut, null);
});
