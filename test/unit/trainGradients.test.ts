// The hand-written backward passes agree with tfjs autodiff of the same forward (on the cpu backend,
// which implements every gradient kernel autodiff needs).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's main entry registers no gradients; autodiff (the reference here) needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../../engine/backend';
import { buildData, buildNetwork, initialParams } from '../../engine/factory';
import { tinyMlpConfig, tinyTransformerConfig , testPaths } from '../configs';
import type { ModelConfig, RunConfig } from '../../domain/spec';

before(async () => {
  await initBackend('cpu');
});

function compare(config: RunConfig, label: string): void {
  const net = buildNetwork(config);
  const data = buildData(config, testPaths);
  const params = initialParams(net.specs, 7);
  const batch = data.trainBatch(3);
  const manual = tf.tidy(() => net.lossAndGrads(params, batch));
  const auto = tf.tidy(() => tf.grads((...ps: tf.Tensor[]) => net.loss(ps, batch))(params));
  net.specs.forEach((spec, i) => {
    const a = manual.grads[i].dataSync();
    const b = auto[i].dataSync();
    let diff = 0;
    let norm = 0;
    for (let j = 0; j < a.length; j++) {
      diff += (a[j] - b[j]) ** 2;
      norm += b[j] ** 2;
    }
    const rel = Math.sqrt(diff) / (Math.sqrt(norm) + 1e-12);
    assert.ok(rel < 2e-3, `${label}: gradient of ${spec.name} off by ${rel.toExponential(2)} (relative)`);
  });
  tf.dispose([manual.loss, ...manual.grads, ...auto, ...params, batch.inputs, batch.labels]);
  data.dispose();
  net.dispose();
}

test('MLP gradients match autodiff (gated and plain, every activation)', () => {
  for (const activation of ['relu', 'silu', 'gelu', 'relu2'] as const) {
    for (const ffn of ['gated', 'plain'] as const) {
      const config = tinyMlpConfig({}, activation);
      config.model = { ...config.model, ffn } as ModelConfig;
      compare(config, `mlp ${ffn} ${activation}`);
    }
  }
});

test('Transformer gradients match autodiff (rotary/learned, tied/untied, gated/plain)', () => {
  const variants: [string, Partial<ModelConfig>][] = [
    ['rotary tied gated silu', { activation: 'silu' }],
    ['learned untied plain relu', { positions: 'learned', tiedEmbeddings: false, ffn: 'plain', activation: 'relu' }],
    ['rotary untied gated gelu', { tiedEmbeddings: false, activation: 'gelu' }],
    ['learned tied gated relu2', { positions: 'learned', activation: 'relu2' }],
  ];
  for (const [label, over] of variants) {
    const config = tinyTransformerConfig({ training: { steps: 10, batchSize: 2, evalEvery: 10 }, data: { kind: 'brown', valSize: 2 } });
    config.model = { ...config.model, dModel: 16, nHeads: 2, nLayers: 2, seqLen: 8, ...over } as ModelConfig;
    compare(config, label);
  }
});
