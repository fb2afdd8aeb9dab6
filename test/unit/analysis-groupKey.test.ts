// Sweep fits pool runs only when their configs agree on everything but the seed and the law's x.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGroupKey, groupRunsByConfig, shortNumber } from '../../analysis/groupKey';

function config(over: { start?: number; end?: number; lr?: number; steps?: number; seed?: number; dModel?: number; activation?: string; finalSparsity?: number; schedule?: string }) {
  return {
    model: { family: 'transformer', activation: over.activation ?? 'relu', dModel: over.dModel ?? 128, nLayers: 2, ffnMult: 4, ffn: 'plain', topK: null },
    optim: { lr: over.lr ?? 3e-3, schedule: 'cosine', warmup: 10 },
    training: { steps: over.steps ?? 600, batchSize: 16, evalEvery: 50 },
    pruning: { schedule: over.schedule ?? 'cubic', start: over.start ?? 0.25, end: over.end ?? 0.75, initialSparsity: 0, finalSparsity: over.finalSparsity ?? 0.5, every: 10, scope: 'global' },
    measure: { metrics: ['ppl-1%'], primary: 'ppl-1%' },
    seed: over.seed ?? 1,
  };
}

test('runs that differ in pruning start only get one group per start; seeds are pooled', () => {
  const runs = [0.1, 0.25, 0.5].flatMap((start) => [1, 2, 3].map((seed) => ({ id: `s${start}-${seed}`, config: config({ start, seed }) })));
  const groups = groupRunsByConfig(runs, (r) => r.config);
  assert.equal(groups.length, 3);
  assert.deepEqual(groups.map((g) => g.key), ['0.1→·', '0.25→·', '0.5→·']);
  for (const g of groups) assert.equal(g.members.length, 3);
  assert.deepEqual(groups[0].fields, { 'pruning.start': 0.1 });
});

test('the key names every differing field readably, in a fixed order; the law x is pooled', () => {
  const runs = [
    config({ activation: 'relu', dModel: 128, start: 0.25, end: 0.75, finalSparsity: 0.5, lr: 3e-3, steps: 600 }),
    config({ activation: 'silu', dModel: 64, start: 0.1, end: 0.9, finalSparsity: 0.75, lr: 1e-3, steps: 1200 }),
    config({ activation: 'silu', dModel: 64, start: 0.1, end: 0.9, finalSparsity: 0.75, lr: 1e-3, steps: 1200, seed: 9 }),
  ];
  const groups = groupRunsByConfig(runs, (c) => c);
  assert.deepEqual(groups.map((g) => g.key), ['relu d128 0.25→0.75 s=0.5 lr=3e-3 steps=600', 'silu d64 0.1→0.9 s=0.75 lr=1e-3 steps=1200']);
  assert.equal(groups[1].members.length, 2);
  // pooling the law's x: a cross-size law pools model.dModel; then activation etc. still split
  const byAct = groupRunsByConfig(runs, (c) => c, ['model.dModel', 'training.steps']);
  assert.deepEqual(byAct.map((g) => g.key), ['relu 0.25→0.75 s=0.5 lr=3e-3', 'silu 0.1→0.9 s=0.75 lr=1e-3']);
  // identical configs but for the seed: one group
  assert.deepEqual(groupRunsByConfig([config({ seed: 1 }), config({ seed: 2 })], (c) => c).map((g) => g.key), ['all runs']);
  // the example
  assert.equal(
    formatGroupKey({ 'model.activation': 'relu', 'model.dModel': 128, 'model.nLayers': 2, 'pruning.schedule': 'cubic', 'pruning.start': 0.25, 'pruning.end': 0.75, 'pruning.finalSparsity': 0.5, 'optim.lr': 3e-3, 'training.steps': 600 }),
    'relu d128 L2 cubic 0.25→0.75 s=0.5 lr=3e-3 steps=600',
  );
  assert.equal(formatGroupKey({ 'pruning.schedule': 'none', 'optim.schedule': 'wsd' }), 'dense schedule=wsd');
  assert.deepEqual([3e-3, 0.25, 600, 2e6, 1.5e-4].map(shortNumber), ['3e-3', '0.25', '600', '2e6', '1.5e-4']);
});
