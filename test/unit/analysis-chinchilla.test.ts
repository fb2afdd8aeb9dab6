import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { chinchillaComputeOptimal, chinchillaParams } from '../../analysis/fit';
import { fitPointsFromFile, fitResultJson } from '../../analysis/dataFile';
import { predictLoss } from '../../analysis/chinchilla';

const CSV = path.join(__dirname, '..', 'fixtures', 'chinchilla', 'epoch-svg-extracted.csv');
// Epoch's procedure rerun with scipy 1.17 (see test/fixtures/README.md)
const REF = { A: 477.86, B: 2142.63, E: 1.8172, alpha: 0.3473, beta: 0.3672 };

test("Epoch's Chinchilla data: 4,500-start Huber fit matches the published scipy optimum", async () => {
  const r = await fitPointsFromFile(CSV, { law: 'chinchilla', dropHighest: 5, workers: 2, bootstrap: 0 });
  assert.equal(r.status, 'ok', `${r.reason}`);
  assert.equal(r.reason, null);
  assert.ok(r.converged, r.message);
  assert.equal(r.n, 240);
  assert.equal(r.dropped, 5);
  // the dropped rows are listed: the five highest losses of the file
  assert.equal(r.droppedRows.length, 5);
  const minDropped = Math.min(...r.droppedRows.map((d) => d.values.loss));
  assert.ok(minDropped > 2.5, `dropped losses ≥ ${minDropped}`);
  assert.match(r.units.D, /Training FLOP \/ \(6·N\)/);
  assert.ok(r.ignoredColumns.includes('hex_color'));
  assert.equal(r.starts, 4500);
  assert.ok(r.objective <= 1.0183e-3, `objective ${r.objective}`);
  for (const [k, v] of Object.entries(REF)) {
    assert.ok(Math.abs(r.params[k] - v) / v < 0.02, `${k} = ${r.params[k]} within 2% of ${v}`);
  }
  const json = fitResultJson(r);
  for (const k of ['law', 'status', 'reason', 'converged', 'iterations', 'message', 'params', 'ci', 'mae', 'mse', 'r2', 'n', 'objective', 'droppedRows', 'units']) assert.ok(k in json, `JSON has ${k}`);

  // compute-optimal allocation: C = 6ND, and no other split of the same budget does better
  const p = chinchillaParams(r);
  for (const o of chinchillaComputeOptimal(r, [1e20, 5.76e23])) {
    assert.ok(Math.abs(6 * o.N * o.D - o.C) / o.C < 1e-9);
    for (const f of [0.8, 1.25]) assert.ok(predictLoss(p, o.N * f, o.D / f) > o.loss);
  }
  const chin = chinchillaComputeOptimal(r, [5.76e23])[0]; // Chinchilla's budget: tens of billions of params
  assert.ok(chin.N > 1e10 && chin.N < 2e11, `N_opt ${chin.N}`);
});
