import * as tf from '@tensorflow/tfjs-core';
import { createTrainer } from './activities/train';
import { tinyMlpConfig } from './activities/train/testing/configs';
async function main() {
  for (const ffn of ['plain','gated'] as const) {
  const cfg = tinyMlpConfig({ pruning: { schedule: 'cubic', start: 0.25, end: 0.75, initialSparsity: 0, finalSparsity: 0.5, every: 10, scope: 'global' } });
  cfg.model = { ...cfg.model, ffn } as typeof cfg.model;
  const t = await createTrainer(cfg);
  console.log(t.backend, t.params);
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) { const l = await t.trainStep(); if (i % 20 === 0 || i==99) console.log(l, tf.memory().numTensors); }
  console.log('ms/step', (performance.now() - t0) / 100);
  const e = await t.evaluate(); console.log(JSON.stringify(e).slice(0, 600));
  console.log(t.nonzeroParamSteps / t.step);
  const ck = await t.checkpoint(); console.log('ckpt bytes', ck.length);
  const t2 = await createTrainer(cfg, { checkpoint: ck }); console.log(t2.step, (await t2.trainStep()).loss, (await t.trainStep()).loss);
  t.dispose(); t2.dispose(); console.log('tensors', tf.memory().numTensors);
  }
}
main();
