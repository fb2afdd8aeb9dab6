// Small sweeps for tests: real training, seconds per run.
import assert from 'node:assert/strict';
import { UsageError } from '../domain/errors';
import { parseSweepText, validateSweep, type SweepFileInput } from '../domain/sweepSchema';
import type { SweepSpec } from '../domain/spec';

/** The sweep file behind `tinySweep` (what a test writes to disk for the CLI). */
export function tinySweepInput(overrides: Partial<SweepFileInput> = {}): SweepFileInput {
  return {
    name: 'tiny',
    taskQueue: `test-${Math.random().toString(36).slice(2, 8)}`,
    maxParallel: 2,
    segmentSteps: 20,
    heartbeatTimeout: 10,
    model: { family: 'mlp', ffn: 'plain', ffnMult: 2, inputDim: 8, outputDim: 4 },
    data: { kind: 'teacher', valSize: 64 },
    optim: { lr: 0.01, schedule: 'cosine', warmup: 0.05 },
    training: { steps: 40, batchSize: 16, evalEvery: 10 },
    measure: { metrics: ['exact', 'fat-0.01', 'ppl-1%'], primary: 'ppl-1%' },
    grid: {
      activation: ['relu', 'silu'],
      size: [{ dModel: 16, nLayers: 2 }],
      pruning: [{ schedule: 'none' }, { schedule: 'cubic', start: 0.25, end: 0.75, finalSparsity: 0.5, every: 5 }],
      seed: [0],
    },
    ...overrides,
  };
}

export function tinySweep(overrides: Partial<SweepFileInput> = {}): SweepSpec {
  return validateSweep(tinySweepInput(overrides), 'test sweep');
}

/** The message a sweep file is refused with (a UsageError, exit 2 at the CLI); fails the test if it is accepted. */
export function refusedSweep(text: string): string {
  try {
    parseSweepText(text, 'sweep.yaml');
  } catch (e) {
    assert.ok(e instanceof UsageError, `UsageError expected, got ${String(e)}`);
    return e.message;
  }
  assert.fail('accepted a sweep file that should be refused');
}
