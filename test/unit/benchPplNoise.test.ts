// `sparsity bench ppl-noise`: a run trained in-process, its metrics measured on disjoint validation
// sets; the spread between sets is what a study's valSize must make small.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchPplNoise } from '../../bench/pplNoise';
import { parseSweepText } from '../../domain/sweepSchema';
import { UsageError } from '../../domain/errors';

const mlp = parseSweepText(
  `name: noise
model: {family: mlp, inputDim: 8, outputDim: 4}
data: {kind: teacher, valSize: 16}
training: {steps: 20, batchSize: 16, evalEvery: 10}
measure: {metrics: [exact, ppl-1%], primary: ppl-1%}
grid: {activation: [relu, silu], size: [{dModel: 16, nLayers: 1}]}
`,
  'noise.yaml',
);

test('per run and validation size: the spread of the loss and of every metric across disjoint sets', async () => {
  const r = await benchPplNoise({ spec: mlp, steps: 20, valSizes: [8, 32], subsets: 3, backend: 'cpu', log: () => undefined });
  assert.deepEqual(r.runs.map((x) => x.label), ['relu d16 L1 dense s0', 'silu d16 L1 dense s0']);
  for (const run of r.runs) {
    assert.equal(run.steps, 20);
    assert.deepEqual(run.cells.map((c) => c.valSize), [8, 32]);
    for (const c of run.cells) {
      assert.equal(c.subsets, 3);
      assert.deepEqual(Object.keys(c.metrics).sort(), ['exact', 'ppl-1%']);
      for (const m of Object.values(c.metrics)) {
        assert.equal(m.values.length, 3);
        assert.ok(m.values.every((v) => v >= 0 && v <= 1));
        assert.ok(Math.abs(m.sdPp - 100 * m.sd) < 1e-12);
      }
      assert.ok(Number.isFinite(c.valLoss.mean) && c.valLoss.sd > 0, 'disjoint sets give different losses');
    }
  }
  // A ReLU network has exact zeros; SiLU has none.
  assert.ok(r.runs[0].cells[1].metrics.exact.mean < 1);
  assert.equal(r.runs[1].cells[1].metrics.exact.mean, 1);
});

test('bad options are refused naming the flag', async () => {
  const bad = (o: Partial<Parameters<typeof benchPplNoise>[0]>, re: RegExp) =>
    assert.rejects(benchPplNoise({ spec: mlp, valSizes: [8], subsets: 3, backend: 'cpu', log: () => undefined, ...o }), (e: Error) => e instanceof UsageError && re.test(e.message));
  await bad({ subsets: 1 }, /--subsets: at least 2 sets/);
  await bad({ valSizes: [0] }, /--val-sizes: positive integers/);
  await bad({ runs: [7] }, /--runs: 7 is not a run of noise \(0\.\.1\)/);
});
