// Child process for the exact-resume tests: resumes a checkpoint in a fresh process, trains the
// remaining steps, and writes the losses and final parameters for the parent to compare.
// argv: <config.json> <checkpoint.bin> <steps> <out.json>
import { testPaths } from '../configs';
import * as fs from 'node:fs';
import { createTrainer } from '../../engine';
import type { NetworkTrainer } from '../../engine/trainer';
import type { RunConfig } from '../../domain/spec';

async function main(): Promise<void> {
  const [configPath, checkpointPath, steps, outPath] = process.argv.slice(2);
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as RunConfig;
  const trainer = (await createTrainer(config, { paths: testPaths, checkpoint: fs.readFileSync(checkpointPath) })) as NetworkTrainer;
  const losses: number[] = [];
  for (let i = 0; i < Number(steps); i++) losses.push((await trainer.trainStep()).loss);
  const params = trainer.paramValues().map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('base64'));
  fs.writeFileSync(outPath, JSON.stringify({ losses, params, step: trainer.step, tokens: trainer.tokens, nonzeroParamSteps: trainer.nonzeroParamSteps }));
  trainer.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
