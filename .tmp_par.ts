import { createTrainer } from './activities/train';
import { REFERENCE_MODEL } from './bench/train';
import { tinyTransformerConfig } from './activities/train/testing/configs';
async function main() {
  const cfg = tinyTransformerConfig({ training: { steps: 10, batchSize: 16, evalEvery: 10 } }, 'silu');
  if (process.argv[2] === 'ref') cfg.model = REFERENCE_MODEL;
  const t = await createTrainer(cfg);
  const losses: number[] = [];
  await t.trainStep();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) losses.push((await t.trainStep()).loss);
  console.log(process.env.SPARSITY_TRAIN_THREADS, 'ms/step', ((performance.now() - t0) / 3).toFixed(0), losses.join(','));
  t.dispose();
}
main();
