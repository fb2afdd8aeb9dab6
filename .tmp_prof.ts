import * as tf from '@tensorflow/tfjs-core';
import { createTrainer } from './activities/train';
import { tinyTransformerConfig } from './activities/train/testing/configs';
import { buildNetwork, buildData, initialParams } from './activities/train/factory';
async function main() {
  const cfg = tinyTransformerConfig({}, 'relu');
  Object.assign(cfg.model, JSON.parse(process.argv[2] ?? '{}'));
  if (process.argv[3]) cfg.training.batchSize = Number(process.argv[3]);
  const t = await createTrainer(cfg); t.dispose();
  const net = buildNetwork(cfg); const data = buildData(cfg); const params = initialParams(net.specs, 1);
  const b = data.trainBatch(0);
  tf.dispose(tf.tidy(() => net.lossAndGrads(params, b)));
  const prof = await tf.profile(() => { tf.dispose(tf.tidy(() => net.lossAndGrads(params, b))); });
  const agg = new Map<string, [number, number]>();
  let total = 0;
  for (const k of prof.kernels) { const ms = k.kernelTimeMs as number; total += ms; const a = agg.get(k.name) ?? [0, 0]; a[0] += ms; a[1]++; agg.set(k.name, a); }
  console.log('kernels total ms', total.toFixed(1), 'count', prof.kernels.length);
  [...agg.entries()].sort((a, b) => b[1][0] - a[1][0]).slice(0, 20).forEach(([n, [ms, c]]) => console.log(n.padEnd(20), ms.toFixed(1), c));
  const t0 = performance.now(); for (let i=0;i<3;i++) tf.dispose(tf.tidy(() => net.lossAndGrads(params, b))); console.log('wall ms', (performance.now()-t0)/3);
}
main();
