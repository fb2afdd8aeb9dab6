// The Transformer on Brown: every activation learns, no leaks, exact resume across processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, initBackend } from '../../engine';
import { buildData, buildNetwork, initialParams } from '../../engine/factory';
import { MicrobatchRunner } from '../../engine/shards';
import { tinyTransformerConfig , testPaths } from '../configs';
import { ACTIVATIONS, type RunConfig, type TransformerModelConfig } from '../../domain/spec';
import { assertExactResumeAcrossProcesses, assertNoTensorLeak } from './trainHelpers';

/** Small enough that a step takes tens of milliseconds on one wasm thread. */
function micro(over: Partial<TransformerModelConfig> = {}): RunConfig {
  const config = tinyTransformerConfig({ training: { steps: 40, batchSize: 8, evalEvery: 20 }, data: { kind: 'brown', valSize: 4 } });
  config.model = { ...(config.model as TransformerModelConfig), dModel: 32, nLayers: 1, nHeads: 2, seqLen: 32, ...over };
  config.optim.lr = 1e-2;
  return config;
}

for (const activation of ACTIVATIONS) {
  test(`loss falls on Brown text with ${activation}`, async () => {
    const trainer = await createTrainer(micro({ activation }), { paths: testPaths });
    const losses: number[] = [];
    for (let i = 0; i < 40; i++) losses.push((await trainer.trainStep()).loss);
    const head = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const tail = losses.slice(-5).reduce((a, b) => a + b) / 5;
    // ln(512) ≈ 6.24 at init; 40 steps of a tiny model reliably get well below it.
    assert.ok(tail < head - 0.8, `${activation}: loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    const ev = await trainer.evaluate();
    assert.ok(Number.isFinite(ev.valLoss) && ev.valLoss < head);
    assert.equal(ev.tokens, 40 * 8 * 32);
    trainer.dispose();
  });
}

test('train-time top-k with learned positions and an untied head learns', async () => {
  const trainer = await createTrainer(micro({ topK: 0.25, positions: 'learned', tiedEmbeddings: false, ffn: 'plain', activation: 'relu2' }), { paths: testPaths });
  const first = (await trainer.trainStep()).loss;
  let last = first;
  for (let i = 1; i < 40; i++) last = (await trainer.trainStep()).loss;
  assert.ok(last < first - 0.8, `loss ${first} → ${last}`);
  const ev = await trainer.evaluate();
  const exact = ev.metrics.find((m) => m.metric === 'exact');
  assert.ok(exact && exact.activationRatio <= 0.3, `top-k 0.25 should keep ≤ ~25% active, got ${exact?.activationRatio}`);
  trainer.dispose();
});

test('Transformer: no tensor leak across steps and evaluations', async () => {
  await assertNoTensorLeak(micro({ activation: 'silu' }), 10);
});

test('Transformer: exact resume across processes (with pruning)', async () => {
  const config = micro({ activation: 'silu' });
  config.pruning = { schedule: 'linear', start: 0.1, end: 0.5, initialSparsity: 0, finalSparsity: 0.5, every: 3, scope: 'global' };
  config.training.steps = 16;
  await assertExactResumeAcrossProcesses(config, 16, 7);
});

test('microbatches in a worker thread give bit-identical gradients to running them in turn', async () => {
  const config = micro({ activation: 'gelu' });
  const net = buildNetwork(config);
  const data = buildData(config, testPaths);
  const params = initialParams(net.specs, 3);
  const batch = data.trainBatch(5);
  const backend = await initBackend();
  const run = async (threads: number) => {
    const runner = new MicrobatchRunner(net, config.model, backend, 32, threads, 0);
    const r = await runner.lossAndGrads(params, batch);
    const out = { loss: r.loss.dataSync()[0], grads: r.grads.map((g) => Array.from(g.dataSync())) };
    tf.dispose([r.loss, ...r.grads]);
    runner.dispose();
    return out;
  };
  const serial = await run(1);
  const parallel = await run(2);
  assert.equal(parallel.loss, serial.loss);
  assert.deepEqual(parallel.grads, serial.grads);
  // And the split is the same mathematics as the whole batch (up to float rounding).
  const whole = tf.tidy(() => net.lossAndGrads(params, batch));
  assert.ok(Math.abs(whole.loss.dataSync()[0] - serial.loss) < 1e-4);
  tf.dispose([whole.loss, ...whole.grads, ...params, batch.inputs, batch.labels]);
  data.dispose();
  net.dispose();
});
