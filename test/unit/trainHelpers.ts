// Shared by the train*.test.ts files: straight vs checkpoint-and-resume-in-a-child comparisons.
import { testPaths } from '../configs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer } from '../../engine';
import type { NetworkTrainer } from '../../engine/trainer';
import type { RunConfig } from '../../domain/spec';

const b64 = (p: Float32Array) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('base64');

/** N straight steps == k steps + checkpoint + fresh process + N−k steps, bit for bit. */
export async function assertExactResumeAcrossProcesses(config: RunConfig, total: number, split: number): Promise<void> {
  const straight = (await createTrainer(config, { paths: testPaths })) as NetworkTrainer;
  const straightLosses: number[] = [];
  for (let i = 0; i < total; i++) straightLosses.push((await straight.trainStep()).loss);
  const straightParams = straight.paramValues().map(b64);
  const straightCounters = [straight.step, straight.tokens, straight.nonzeroParamSteps];
  straight.dispose();

  const first = (await createTrainer(config, { paths: testPaths })) as NetworkTrainer;
  const firstLosses: number[] = [];
  for (let i = 0; i < split; i++) firstLosses.push((await first.trainStep()).loss);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'train-resume-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'ckpt.bin'), await first.checkpoint());
  first.dispose();

  const child = path.join(__dirname, 'trainResumeChild.ts');
  const out = path.join(dir, 'out.json');
  execFileSync(process.execPath, ['--import', 'tsx', child, path.join(dir, 'config.json'), path.join(dir, 'ckpt.bin'), String(total - split), out], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const resumed = JSON.parse(fs.readFileSync(out, 'utf8')) as { losses: number[]; params: string[]; step: number; tokens: number; nonzeroParamSteps: number };
  fs.rmSync(dir, { recursive: true, force: true });

  assert.deepEqual([...firstLosses, ...resumed.losses], straightLosses, 'losses differ after resume');
  assert.equal(resumed.params.length, straightParams.length);
  resumed.params.forEach((p, i) => assert.ok(p === straightParams[i], `parameter tensor ${i} differs after resume`));
  assert.deepEqual([resumed.step, resumed.tokens, resumed.nonzeroParamSteps], straightCounters);
}

/** Trains `steps` and checks the live tensor count is the same after every step past the first. */
export async function assertNoTensorLeak(config: RunConfig, steps: number): Promise<void> {
  const trainer = await createTrainer(config, { paths: testPaths });
  await trainer.trainStep();
  const counts: number[] = [];
  for (let i = 0; i < steps; i++) {
    await trainer.trainStep();
    counts.push(tf.memory().numTensors);
  }
  await trainer.evaluate();
  await trainer.trainStep();
  counts.push(tf.memory().numTensors);
  trainer.dispose();
  assert.ok(counts.every((c) => c === counts[0]), `tensor count drifted: ${counts.join(',')}`);
}
