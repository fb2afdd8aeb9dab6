// Sweep files: validation messages name the field and the value; grid expansion is deterministic.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSweepText } from '../../domain/sweepSchema';
import { expandGrid, gridSize, runAt } from '../../domain/grid';
import { segmentEnd } from '../../domain/segments';
import { refusedSweep } from '../sweeps';

const base = `name: t
training: {steps: 100, evalEvery: 10}
grid:
  activation: [relu, silu]
  size: [{dModel: 64, nLayers: 2}, {dModel: 128, nLayers: 4}]
  pruning: [{schedule: none}, {schedule: cubic, finalSparsity: 0.5}]
  seed: [0, 1]
`;


describe('sweep file validation', () => {
  it('accepts a good file and fills defaults', () => {
    const spec = parseSweepText(base, 'sweep.yaml');
    assert.equal(gridSize(spec), 16);
    assert.equal(spec.taskQueue, 'sparsity');
    assert.equal(spec.base.measure.primary, 'ppl-1%');
    assert.equal(spec.base.data.kind, 'teacher');
    assert.equal(spec.base.optim.lr, 3e-3, 'an omitted section still gets its defaults');
    assert.equal(spec.base.optim.beta2, 0.95);
  });

  const cases: [string, string, RegExp][] = [
    ['malformed YAML', 'name: t\ntraining: {steps: 100\n', /malformed YAML in sweep\.yaml/],
    ['unknown key', base + 'colour: blue\n', /\(top level\): unknown key "colour"/],
    ['unknown nested key', base.replace('{steps: 100,', '{steps: 100, epochs: 3,'), /training: unknown key "epochs"/],
    ['wrong type', base.replace('steps: 100', 'steps: "many"'), /training\.steps: .* \(got "many"\)/],
    ['negative size', base.replace('dModel: 64', 'dModel: -64'), /grid\.size\[0\]\.dModel: .*\(got -64\)/],
    ['zero size', base.replace('nLayers: 4', 'nLayers: 0'), /grid\.size\[1\]\.nLayers: .*\(got 0\)/],
    ['an odd head width', base.replace('name: t', 'name: t\nmodel: {family: transformer, nHeads: 64}'), /grid\.size\[0\]\.nHeads: head width dModel\/nHeads = 1 must be even/],
    ['a seed beyond a Postgres integer', base.replace('seed: [0, 1]', 'seed: [0, 4294967296]'), /grid\.seed\[1\]: .*\(got 4294967296\)/],
    ['heads not dividing', base.replace('name: t', 'name: t\nmodel: {family: transformer, nHeads: 3}'), /grid\.size\[0\]\.nHeads: 3 heads do not divide dModel 64/],
    ['sparsity of 1', base.replace('finalSparsity: 0.5', 'finalSparsity: 1'), /grid\.pruning\[1\]\.finalSparsity: sparsity must be in \[0, 1\) \(got 1\)/],
    ['negative sparsity', base.replace('finalSparsity: 0.5', 'finalSparsity: -0.1'), /grid\.pruning\[1\]\.finalSparsity: .*\(got -0\.1\)/],
    ['zero learning rate', base + 'optim: {lr: 0}\n', /optim\.lr: learning rate must be > 0 \(got 0\)/],
    ['empty grid', base.replace('activation: [relu, silu]', 'activation: []'), /grid\.activation: must list at least one value/],
    ['over the cap', base + 'maxRuns: 10\n', /grid: 16 runs exceed the cap maxRuns = 10/],
    ['unknown activation', base.replace('[relu, silu]', '[relu, tanh]'), /grid\.activation\[1\]: .*\(got "tanh"\)/],
    ['unknown metric', base + 'measure: {metrics: [exact, ppl-abc], primary: exact}\n', /measure\.metrics\[1\]: .*ppl-abc/],
    ['primary not measured', base + 'measure: {metrics: [exact], primary: ppl-1%}\n', /measure\.primary: must be one of/],
  ];
  for (const [what, text, message] of cases) {
    it(`refuses ${what}, naming the field and value`, () => assert.match(refusedSweep(text), message));
  }
});

describe('grid expansion', () => {
  const spec = parseSweepText(base, 'sweep.yaml');

  it('is deterministic, covers every combination once, seed innermost', () => {
    const runs = expandGrid(spec);
    assert.deepEqual(runs, expandGrid(spec));
    assert.equal(new Set(runs.map((r) => r.key)).size, 16);
    assert.equal(runs[0].label, 'relu d64 L2 dense s0');
    assert.equal(runs[1].label, 'relu d64 L2 dense s1');
    assert.equal(runs[15].label, 'silu d128 L4 cubic50 s1');
  });

  it('gives the same run the same key in another sweep (the config holds no sweep identity)', () => {
    const other = parseSweepText(base.replace('name: t', 'name: other').replace('seed: [0, 1]', 'seed: [1]'), 'b.yaml');
    assert.equal(runAt(other, 0).key, runAt(spec, 1).key);
    assert.deepEqual(runAt(other, 0).config, runAt(spec, 1).config);
  });

  it('solves budget + ratio sizes to valid shapes', () => {
    const s = parseSweepText(
      base.replace('size: [{dModel: 64, nLayers: 2}, {dModel: 128, nLayers: 4}]', 'size: [{budget: 2000000, ratio: 32}]').replace('name: t', 'name: t\nheartbeatTimeout: 900\nmodel: {family: transformer, nHeads: 4, ffn: gated}').replace('pruning: [{schedule: none}, {schedule: cubic, finalSparsity: 0.5}]', 'pruning: [{schedule: none}]'),
      'c.yaml',
    );
    const m = runAt(s, 0).config.model;
    assert.equal(m.family, 'transformer');
    if (m.family === 'transformer') assert.equal(m.dModel % m.nHeads, 0);
    assert.ok(Math.abs(m.dModel / m.nLayers - 32) / 32 < 0.5);
  });

  it('cuts segments on eval points', () => {
    const cfg = runAt(spec, 0).config;
    assert.equal(segmentEnd(0, 25, cfg), 30);
    assert.equal(segmentEnd(90, 25, cfg), 100);
    assert.equal(segmentEnd(0, 1000, cfg), 100);
  });
});
