// What `sparsity fit` and `sparsity demo` print: a fit that is not ok never reads like one, and
// the Journey Matters comparison lists the three definitions of N with AIC, held-out error and the verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitCurve } from '../../analysis/fit';
import { compareNDefinitions } from '../../analysis/journey';
import { epochGrid } from '../../analysis/chinchilla';
import { gaussian, rng } from '../../analysis/stats';
import { fitRows } from '../../db/fits';
import { fitLines, journeyLines, paramsText } from '../../cli/fitDisplay';

test('fit lines: status before the numbers of a fit that is not ok, and the reason', async () => {
  const u = rng(4);
  const x = Array.from({ length: 20 }, (_, i) => 1 + i);
  const flat = await fitCurve('relu-logspace', x, x.map(() => 0.1 + 1e-4 * gaussian(u)), { workers: 1 });
  const good = await fitCurve('silu-power', x, x.map((v) => 0.4 - 0.2 * v ** -0.5 + 1e-4 * gaussian(u)), { workers: 1 });
  assert.equal(flat.status, 'degenerate');
  assert.equal(good.status, 'ok');
  const jr = [1e5, 2e5, 4e5, 8e5, 1.6e6, 3.2e6, 6.4e6, 1.28e7].map((dense, i) => ({ id: `r${i}`, label: `r${i}`, pruned: i % 2 === 1, avgNonzero: dense * (i % 2 ? 0.7 : 1), finalNonzero: dense * (i % 2 ? 0.5 : 1), dense, tokens: 1e8, loss: (2 + 300 / (dense * (i % 2 ? 0.7 : 1)) ** 0.4) * Math.exp(0.002 * gaussian(u)) }));
  const comparison = await compareNDefinitions(jr, { starts: epochGrid().filter((_, i) => i % 100 === 0), workers: 1 });
  const rows = fitRows({ fits: [{ law: 'relu-logspace', groupKey: 'relu dense', runIds: [], result: flat }, { law: 'silu-power', groupKey: 'silu dense', runIds: [], result: good }], journeys: [{ groupKey: 'relu', runs: jr, comparison }], skipped: [] });
  const views = rows.map((r) => ({ ...r, group: r.groupKey }));
  const lines = fitLines(views).join('\n');
  assert.match(lines, /relu-logspace {2}\[relu dense\] {2}DEGENERATE\n {4}params: degenerate: alpha=/);
  assert.match(lines, new RegExp(`why not ok: ${flat.reason!.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(lines, /silu-power {2}\[silu dense\] {2}OK\n {4}params: alpha=/);
  assert.doesNotMatch(lines, /journey-matters/);
  assert.equal(paramsText({ status: 'failed', params: { a: NaN } }), 'failed: no parameters');
  const j = journeyLines(views).join('\n');
  for (const k of ['N=N̄', 'N=N_final', 'N=N_dense']) assert.match(j, new RegExp(`\\n {4}${k} +(ok|not-identified|degenerate|failed) +-?\\d`));
  assert.match(j, /fitted to the final losses of 8 runs/);
  assert.match(j, comparison.status === 'ok' ? /verdict: best by held-out error/ : /verdict: no winner named/);
});

test('fit lines: the bootstrap intervals of each parameter, and the token scale as a power of ten', async () => {
  const { intervalsText } = await import('../../cli/fitDisplay');
  const { scaleText, tokenScale } = await import('../../analysis/sweepFits');
  const line = fitLines([{ law: 'silu-power', group: 'silu d64 L4', status: 'ok', reason: null, params: { alpha: 0.5, c: 0.2, A0: 0.4 }, ci: { alpha: [0.41, 0.62], c: [0.15, 0.26], A0: [NaN, 0.41] }, mse: 1e-5, r2: 0.9 }]).join('\n');
  assert.match(line, /\n {4}95% bootstrap intervals: alpha \[0\.410, 0\.620\] {2}c \[0\.150, 0\.260\]$/);
  assert.equal(intervalsText({ params: { a: 1 }, ci: {} }), '');
  assert.equal(scaleText(tokenScale(410_000)), '1e-4');
  assert.equal(scaleText(tokenScale(2_000_000)), '1e-5');
});
