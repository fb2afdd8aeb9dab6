// The sparse scaling law (Frantar et al., ICLR 2024) on the authors' T5 data, and Epoch's
// bootstrap intervals for Chinchilla (fewer resamples than Epoch's 4,000; the full check is
// `sparsity bench fit --bootstrap-check`). Fixtures: test/fixtures/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { fitPointsFromFile } from '../../analysis/dataFile';
import { predictSparse, sparseObjective, frantarT5Point } from '../../analysis/sparseChinchilla';
import { readDataFile } from '../../analysis/dataFile';
import { benchBootstrapCheck } from '../../bench/fit';

const T5 = path.join(__dirname, '..', 'fixtures', 'sparse-scaling', 't5-data.csv');
// The authors' notebook (best of 25 starts) and 300 scipy L-BFGS starts, from the shared data README.
const NOTEBOOK = { params: [0.56779, 0.72161, 1.52265, 0.24513, 0.63362, 0.20271, 0.65074], objective: 7.6036e-6 };
const SCIPY_BEST = { params: [0.50764, 0.92524, 1.60787, 0.23754, 0.57045, 0.23214, 0.68507], objective: 6.2430e-6 };
const HELD_OUT = { S: 0.75, N: (48 * 12 * 1024 * 1024) / 1e6, D: 5, L: 1.48278 };

function t5Points() {
  const t = readDataFile(T5);
  return t.columns.sparsity.map((s, i) => frantarT5Point({ sparsity: s, scale: t.columns.scale[i], steps: t.columns.steps[i], loss: t.columns['val-loss'][i] }));
}

test('our objective reproduces the published objective values of both published fits', () => {
  const pts = t5Points();
  assert.equal(pts.length, 48);
  for (const ref of [NOTEBOOK, SCIPY_BEST]) {
    const f = sparseObjective(ref.params, pts, null);
    assert.ok(Math.abs(f - ref.objective) / ref.objective < 1e-3, `objective ${f} vs published ${ref.objective}`);
  }
  // analytic gradient against central differences at the notebook's optimum
  const g = new Float64Array(7);
  sparseObjective(NOTEBOOK.params, pts, g);
  for (let j = 0; j < 7; j++) {
    const h = 1e-6, p = [...NOTEBOOK.params], q = [...NOTEBOOK.params];
    p[j] += h; q[j] -= h;
    const fd = (sparseObjective(p, pts, null) - sparseObjective(q, pts, null)) / (2 * h);
    assert.ok(Math.abs(fd - g[j]) <= 1e-4 * Math.max(Math.abs(g[j]), 1e-5), `∂f/∂p${j}: analytic ${g[j]} vs numeric ${fd}`);
  }
});

test('fit-points --law sparse-chinchilla --preset frantar-t5 reproduces the published fit', async () => {
  const r = await fitPointsFromFile(T5, { law: 'sparse-chinchilla', preset: 'frantar-t5', bootstrap: 0 });
  assert.equal(r.n, 48);
  assert.ok(r.objective <= NOTEBOOK.objective, `objective ${r.objective} ≤ notebook's ${NOTEBOOK.objective}`);
  assert.ok(r.objective <= SCIPY_BEST.objective * 1.02, `objective ${r.objective} within 2% of (or below) 300 scipy starts' ${SCIPY_BEST.objective}`);
  assert.equal(r.status, 'ok', `${r.reason}`);
  assert.match(r.units.N, /24·12·768²·scale·\(1−S\)\/1e6/);
  const pred = predictSparse(r, HELD_OUT.S, HELD_OUT.N, HELD_OUT.D);
  assert.ok(Math.abs(pred - HELD_OUT.L) / HELD_OUT.L < 0.025, `held-out prediction ${pred} within 2.5% of ${HELD_OUT.L}`);
  // the raw file without the preset is refused, pointing at it
  await assert.rejects(fitPointsFromFile(T5, { law: 'sparse-chinchilla' }), /no column "S".*--preset frantar-t5/);
});

test("Epoch's bootstrap: 400 resamples from Hoffmann's fit give intervals near Epoch's 4,000", async () => {
  // Wider than the benchmark's tolerance (E, α, β 0.01; A, B 15%) for 10× fewer resamples.
  const r = await benchBootstrapCheck({
    replicates: 400, workers: 2, stride: 100,
    tolerance: { E: { abs: 0.02 }, alpha: { abs: 0.02 }, beta: { abs: 0.02 }, A: { rel: 0.3 }, B: { rel: 0.3 } },
  });
  assert.equal(r.succeeded, 400);
  assert.ok(r.pass, JSON.stringify(r.ends));
});
