// The MLP path: learning, pruning, no leaks, exact resume across processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer } from '../../engine';
import { tinyMlpConfig , testPaths } from '../configs';
import type { NetworkTrainer } from '../../engine/trainer';
import type { RunConfig } from '../../domain/spec';
import { checkpointBytes } from '../../domain/sizing';
import { checkpointLayout } from '../../engine/checkpoint';
import { assertExactResumeAcrossProcesses, assertNoTensorLeak } from './trainHelpers';

const pruned = (over: Partial<RunConfig> = {}): RunConfig =>
  tinyMlpConfig({
    training: { steps: 40, batchSize: 32, evalEvery: 20 },
    pruning: { schedule: 'cubic', start: 0.2, end: 0.6, initialSparsity: 0, finalSparsity: 0.6, every: 4, scope: 'layer' },
    ...over,
  });

test('MLP loss falls on the teacher task and evaluate reports metrics', async () => {
  const trainer = await createTrainer(tinyMlpConfig(), { paths: testPaths });
  const first = (await trainer.trainStep()).loss;
  let last = first;
  for (let i = 1; i < 100; i++) last = (await trainer.trainStep()).loss;
  assert.ok(last < first * 0.6, `loss ${first} → ${last}`);
  const ev = await trainer.evaluate();
  assert.equal(ev.step, 100);
  assert.equal(ev.tokens, 100 * 64);
  assert.ok(Number.isFinite(ev.valLoss));
  assert.deepEqual(ev.metrics.map((m) => m.metric), ['exact', 'cett-0.2']);
  assert.ok(ev.metrics.every((m) => m.activationRatio > 0 && m.activationRatio <= 1));
  assert.equal(ev.nonzeroParams, trainer.params.linear);
  trainer.dispose();
});

test('pruned weights stay exactly zero and N̄ accounts for them', async () => {
  for (const scope of ['layer', 'global'] as const) {
    const config = pruned();
    config.pruning.scope = scope;
    const trainer = (await createTrainer(config, { paths: testPaths })) as NetworkTrainer;
    const zerosAt: number[][] = [];
    for (let i = 0; i < 40; i++) {
      await trainer.trainStep();
      if (i === 25 || i === 39) {
        zerosAt.push(trainer.paramValues().flatMap((p, k) => (trainer['network'].specs[k].prunable ? Array.from(p, (v, j) => (v === 0 ? j + k * 1e7 : -1)).filter((j) => j >= 0) : [])));
      }
    }
    // Every weight zero at step 26 is still zero at step 40 (pruning is nested, moments masked).
    const later = new Set(zerosAt[1]);
    assert.ok(zerosAt[0].length > 0);
    assert.ok(zerosAt[0].every((j) => later.has(j)), `${scope}: a pruned weight came back`);
    const ev = await trainer.evaluate();
    const expectedLive = Math.round(trainer.params.linear * (1 - 0.6));
    assert.ok(Math.abs(ev.nonzeroParams - expectedLive) <= 2, `${scope}: nonzero ${ev.nonzeroParams}, expected ≈ ${expectedLive}`);
    const meanN = trainer.avgNonzeroParams;
    assert.ok(meanN < trainer.params.linear && meanN > expectedLive, `${scope}: N̄ = ${meanN}`);
    trainer.dispose();
  }
});

test('checkpointBytes (the submit-time and pre-training check) is the data of a real checkpoint, dense and pruned', async () => {
  const prunedConfig = pruned();
  prunedConfig.pruning.start = 0;
  for (const [config, isPruned] of [[tinyMlpConfig(), false], [prunedConfig, true]] as const) {
    const trainer = await createTrainer(config, { paths: testPaths });
    try {
      for (let i = 0; i < 5; i++) await trainer.trainStep(); // pruning from step 0: the masks exist
      const { floats } = checkpointLayout(trainer.checkpointContents());
      assert.equal(checkpointBytes(config.model, isPruned), 4 * floats, isPruned ? 'pruned' : 'dense');
    } finally {
      trainer.dispose();
    }
  }
});

test('MLP: no tensor leak across steps and evaluations', async () => {
  // Pruning from step 0, so the masks exist before counting starts (re-pruning replaces them).
  const config = pruned({ model: { ...tinyMlpConfig().model, topK: 0.25, ffn: 'gated' } });
  config.pruning.start = 0;
  await assertNoTensorLeak(config, 30);
});

test('MLP: exact resume across processes (pruning, top-k, random labels)', async () => {
  const config = pruned({ model: { ...tinyMlpConfig().model, topK: 0.5, ffn: 'gated', activation: 'gelu' }, data: { kind: 'random-labels', valSize: 64 } });
  await assertExactResumeAcrossProcesses(config, 30, 13);
  assert.equal(tf.memory().numTensors, 0);
});
