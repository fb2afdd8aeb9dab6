// Every default of the sweep file, once. The sweep-file schema, the workflows and the test
// configurations read them from here; the README's sweep-file section documents the same values.
import type { MeasureConfig, OptimConfig, PruningConfig } from './spec';

export const SWEEP_DEFAULTS = {
  taskQueue: 'sparsity',
  maxParallel: 2,
  /** Training steps per activity (cut on eval points). */
  segmentSteps: 1000,
  /** Seconds without a heartbeat before a segment is presumed lost and retried elsewhere. */
  heartbeatTimeoutSeconds: 30,
  maxRuns: 100_000,
  /** Runs per sweep-workflow history before it continues as new. */
  continueAsNewEvery: 500,
  /** Branch runs that differ only in `steps` from one trunk where that gives the same numbers (domain/ladder.ts). */
  ladder: true,
} as const;

export const MODEL_DEFAULTS = {
  family: 'mlp',
  topK: null,
  ffnMult: 4,
  ffn: 'plain',
  inputDim: 32,
  outputDim: 16,
  nHeads: 4,
  positions: 'rotary',
  tiedEmbeddings: true,
  seqLen: 64,
  vocabSize: 512,
} as const;

/** `dtype`: of `kind: tokens` files; `field`: of `.jsonl` records; `tokenizer` and its `vocabSize`: of `kind: text`. */
export const DATA_DEFAULTS = { valSize: 256, dtype: 'uint16', field: 'text', tokenizer: 'bpe', vocabSize: 512 } as const;

/** `warmupSteps` has no default: a run warms up over the fraction `warmup` of its steps unless the file gives it. */
export const OPTIM_DEFAULTS: Readonly<OptimConfig> = {
  lr: 3e-3,
  schedule: 'cosine',
  warmup: 0.05,
  decay: 0.2,
  minLrRatio: 0.1,
  weightDecay: 0.01,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  gradClip: 1,
};

export const TRAINING_DEFAULTS = { batchSize: 32, evalEvery: 50 } as const;

export const MEASURE_DEFAULTS: Readonly<MeasureConfig> = { metrics: ['exact', 'ppl-1%'], primary: 'ppl-1%' };

/** Gradual magnitude pruning as "The Journey Matters" runs it: cubic from 25% to 75% of training. */
export const PRUNING_DEFAULTS: Readonly<PruningConfig> = {
  schedule: 'none',
  start: 0.25,
  end: 0.75,
  initialSparsity: 0,
  finalSparsity: 0,
  every: 10,
  scope: 'global',
};

/**
 * Largest checkpoint the `postgres` checkpoint store takes (bytes): it keeps blobs in the sparsity
 * database in chunks, meant for small models; larger ones go to a file:// or s3:// store. Checked
 * at submit when a sweep names the store, before training on a worker, and by the store itself.
 */
export const POSTGRES_STORE_MAX_BYTES = 256 * 1024 * 1024;
