// What a fit is: the status rules of analysis/verdict.ts on the cases that misled users
// (test/fixtures/cases-fits, copied from the project's shared cases; see test/fixtures/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fitChinchilla, fitCurve } from '../../analysis/fit';
import { fitPointsFromFile } from '../../analysis/dataFile';
import { classifyFit } from '../../analysis/verdict';
import { gaussian, rng } from '../../analysis/stats';

const CASES = path.join(__dirname, '..', 'fixtures', 'cases-fits');
// The generating law of both case files (their README): E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28.
const TRUTH = { E: 1.69, A: 406.4, B: 410.7, alpha: 0.34, beta: 0.28 };
const QUICK_GRID = [[6, 6, 0.5, 0.3, 0.3], [5, 8, 0.4, 0.4, 0.25], [10, 10, 0, 0.5, 0.5], [0, 0, 0, 0, 0]];

test('one model size: B and β recovered within 1%, E, A, α reported as not identified', async () => {
  const r = await fitPointsFromFile(path.join(CASES, 'chinchilla-one-model-size.csv'), { law: 'chinchilla', bootstrap: 0 });
  assert.equal(r.status, 'not-identified');
  assert.match(r.reason ?? '', /one model size.*E, A, alpha are not identified/);
  assert.equal(r.n, 8);
  assert.deepEqual(r.droppedRows, []);
  assert.ok(Math.abs(r.params.B - TRUTH.B) / TRUTH.B < 0.01, `B = ${r.params.B}`);
  assert.ok(Math.abs(r.params.beta - TRUTH.beta) / TRUTH.beta < 0.01, `beta = ${r.params.beta}`);
  const K = TRUTH.E + TRUTH.A / 4e8 ** TRUTH.alpha;
  assert.ok(Math.abs(r.params.K - K) / K < 1e-3, `K = ${r.params.K} vs E + A/N^α = ${K}`);
  for (const k of ['E', 'A', 'alpha']) {
    assert.ok(Number.isNaN(r.params[k]), `${k} is not estimated`);
    assert.equal(r.flags[k], 'not-identified');
  }
  // With Epoch's dropping only 3 points remain: the fit fails with its reason, naming the count.
  const dropped = await fitPointsFromFile(path.join(CASES, 'chinchilla-one-model-size.csv'), { law: 'chinchilla', dropHighest: 5, bootstrap: 0 });
  assert.equal(dropped.status, 'failed');
  assert.match(dropped.reason ?? '', /needs more than 5 points; got 3/);
  assert.equal(dropped.droppedRows.length, 5);
});

test('seven points: nothing dropped by default; with five dropped the fit fails with a reason', async () => {
  const file = path.join(CASES, 'chinchilla-seven-points.csv');
  const r = await fitPointsFromFile(file, { law: 'chinchilla', bootstrap: 0, starts: QUICK_GRID });
  assert.equal(r.n, 7);
  assert.equal(r.dropped, 0);
  assert.deepEqual(r.droppedRows, []);
  assert.equal(r.status, 'ok', `${r.reason}`);
  for (const [k, v] of Object.entries(TRUTH)) assert.ok(Math.abs(r.params[k] - v) / v < 0.01, `${k} = ${r.params[k]}`);
  const d = await fitPointsFromFile(file, { law: 'chinchilla', dropHighest: 5, bootstrap: 0 });
  assert.equal(d.status, 'failed');
  assert.match(d.reason ?? '', /5 parameters and needs more than 5 points; got 2/);
  assert.ok(Number.isNaN(d.r2), 'no R² = 1 from two points');
  // A bootstrap of 7 points cannot pin 5 parameters down: most resamples have too few distinct points.
  const b = await fitPointsFromFile(file, { law: 'chinchilla', bootstrap: 40, starts: QUICK_GRID, workers: 1 });
  assert.equal(b.status, 'not-identified');
  assert.match(b.reason ?? '', /bootstrap resamples had too few distinct points/);
});

test('chinchilla with two model sizes flags E, A, α; with one N and one D it fails', async () => {
  const pts = [];
  for (const N of [1e8, 1e9]) for (const D of [1e9, 3e9, 1e10, 3e10]) pts.push({ N, D, L: TRUTH.E + TRUTH.A / N ** TRUTH.alpha + TRUTH.B / D ** TRUTH.beta });
  const r = await fitChinchilla(pts, { starts: QUICK_GRID, workers: 1 });
  assert.equal(r.status, 'not-identified');
  assert.match(r.reason ?? '', /two model sizes/);
  for (const k of ['E', 'A', 'alpha']) assert.equal(r.flags[k], 'not-identified');
  const same = Array.from({ length: 6 }, () => ({ N: 1e8, D: 1e9, L: 3 }));
  const f = await fitChinchilla(same, { starts: QUICK_GRID, workers: 1 });
  assert.equal(f.status, 'failed');
  assert.match(f.reason ?? '', /one N and one D/);
});

test('a collapsed curve is degenerate, with the reason; too few points or too little range fails', async () => {
  const u = rng(5);
  const x = Array.from({ length: 30 }, (_, i) => 1 + i);
  const flat = x.map(() => 0.1 + 1e-4 * gaussian(u));
  const r = await fitCurve('relu-logspace', x, flat, { workers: 1 });
  assert.equal(r.status, 'degenerate');
  assert.match(r.reason ?? '', /c at its lower bound/);
  assert.match(r.reason ?? '', /R² = /);
  const few = await fitCurve('silu-power', [1, 2, 3], [0.1, 0.2, 0.3]);
  assert.equal(few.status, 'failed');
  assert.match(few.reason ?? '', /needs more than 3 points; got 3/);
  const narrow = await fitCurve('power', [10, 10.2, 10.4, 10.6, 10.8, 11], [1, 0.99, 0.98, 0.97, 0.96, 0.95]);
  assert.equal(narrow.status, 'failed');
  assert.match(narrow.reason ?? '', /span at least a factor 2/);
  // silu-power with A0 on its upper bound 1 (the demo's case) is degenerate, not ok
  const v = classifyFit({ law: 'silu-power', params: { alpha: 0.5, c: 0.3, A0: 1 }, bounds: { alpha: [1e-3, 5], c: [1e-8, 1e3], A0: [0, 1] }, flags: {}, r2: 0.9 });
  assert.equal(v.status, 'degenerate');
  assert.match(v.reason ?? '', /A0 at its upper bound 1/);
  assert.deepEqual(classifyFit({ law: 'power', params: { a: 1, b: 0.5, c: 1 }, bounds: { a: [null, null], b: [0, 10], c: [null, null] }, flags: {}, r2: 0.99 }), { status: 'ok', reason: null });
});

test('fit-points refuses ambiguous files and says what it did with the rest', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparsity-status-'));
  const f = (name: string, text: string) => { const p = path.join(dir, name); fs.writeFileSync(p, text); return p; };
  const rows = [[1e8, 1e9], [1e8, 1e10], [1e9, 1e9], [1e9, 1e10], [3e8, 3e9], [3e9, 3e10]];
  const lossOf = (N: number, D: number) => TRUTH.E + TRUTH.A / N ** TRUTH.alpha + TRUTH.B / D ** TRUTH.beta;
  // both D and Training FLOP, disagreeing: ambiguous
  const both = f('both.csv', 'Model Size,D,Training FLOP,loss\n' + rows.map(([N, D]) => `${N},${D},${6 * N * D * 2},${lossOf(N, D)}`).join('\n'));
  await assert.rejects(fitPointsFromFile(both, { law: 'chinchilla', bootstrap: 0 }), /"D" and "Training FLOP" disagree at row 1.*ambiguous/);
  const dup = f('dup.csv', 'Model Size,loss,loss\n1,2,3\n');
  await assert.rejects(fitPointsFromFile(dup, { law: 'chinchilla' }), /column "loss" appears twice/);
  const missing = f('missing.csv', 'Model Size,loss\n1,2\n');
  await assert.rejects(fitPointsFromFile(missing, { law: 'chinchilla' }), /no column "D"/);
  const nonNum = f('nonnum.csv', 'Model Size,D,loss\n1e8,1e9,abc\n');
  await assert.rejects(fitPointsFromFile(nonNum, { law: 'chinchilla' }), /column "loss" row 1 is not a finite number/);
  await assert.rejects(fitPointsFromFile(nonNum, { law: 'power', dropHighest: 2 }), /--drop-highest applies to chinchilla only/);
  // raw token counts for a Sparsing-Law law: warned, with the fix
  const raw = f('raw.csv', 'tokens,ratio\n' + Array.from({ length: 12 }, (_, i) => `${(i + 1) * 5e9},${0.4 - 0.1 * (i + 1) ** -0.5}`).join('\n'));
  const r = await fitPointsFromFile(raw, { law: 'silu-power', x: 'tokens', y: 'ratio', bootstrap: 0 });
  assert.ok(r.warnings.some((w) => /raw tokens.*--x-scale 1e-9/.test(w)), r.warnings.join('; '));
  assert.match(r.units.x, /tokens .*billions/);
  const scaled = await fitPointsFromFile(raw, { law: 'silu-power', x: 'tokens', y: 'ratio', xScale: 1e-9, bootstrap: 0 });
  assert.deepEqual(scaled.warnings, []);
  assert.equal(scaled.units.x, 'tokens × 1e-9 (billions of tokens)');
});

test('fit-points bootstraps by default, resampling rows', async () => {
  const file = path.join(__dirname, '..', 'fixtures', 'sparsing-law', '0.2b_silu.json');
  const r = await fitPointsFromFile(file, { law: 'silu-power', workers: 2 });
  assert.equal(r.ciMethod, 'bootstrap');
  assert.equal(r.bootstrap?.requested, 200);
  assert.equal(r.bootstrap?.unit, 'points');
  assert.equal(r.status, 'ok', `${r.reason}`);
});
