import * as tf from '@tensorflow/tfjs-core';
import { createTrainer } from './activities/train';
import { tinyTransformerConfig } from './activities/train/testing/configs';
async function main() {
  const act = (process.argv[2] ?? 'relu') as 'relu';
  const cfg = tinyTransformerConfig({}, act);
  Object.assign(cfg.model, JSON.parse(process.argv[3] ?? '{}'));
  const t = await createTrainer(cfg);
  console.log(t.backend, t.params);
  const t0 = performance.now();
  const n = Number(process.argv[4] ?? 60);
  for (let i = 0; i < n; i++) { const l = await t.trainStep(); if (i % 10 === 0 || i==n-1) console.log(l.step, l.loss.toFixed(4), tf.memory().numTensors); }
  console.log('ms/step', (performance.now() - t0) / n);
  const e = await t.evaluate(); console.log(JSON.stringify(e).slice(0, 400));
  t.dispose(); console.log('tensors', tf.memory().numTensors);
}
main();
