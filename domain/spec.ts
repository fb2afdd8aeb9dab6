// The resolved configuration of one training run, and of a sweep of them.
//
// This module is pure data and pure functions: it is bundled into workflow code
// (so it must stay deterministic and import nothing with I/O), and shared by the
// CLI, the activities and the training engine. `RunConfig` is what lands in
// `runs.config`: the training configuration only, never the sweep's identity, so
// the same run in two sweeps has the same config and the same run key.

export const ACTIVATIONS = ['relu', 'silu', 'gelu', 'relu2'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export const PRUNING_SCHEDULES = ['none', 'cubic', 'linear', 'oneshot'] as const;
export type PruningSchedule = (typeof PRUNING_SCHEDULES)[number];

export interface MlpModelConfig {
  family: 'mlp';
  activation: Activation;
  /** Train-time Top-k activation (Lazy Neuron): fraction of FFN neurons kept per example; null = off. */
  topK: number | null;
  /** Width of the hidden representation between blocks. */
  dModel: number;
  /** Number of hidden FFN blocks (each `dModel -> ffnMult*dModel -> dModel`). */
  nLayers: number;
  ffnMult: number;
  ffn: 'gated' | 'plain';
  inputDim: number;
  outputDim: number;
}

export interface TransformerModelConfig {
  family: 'transformer';
  activation: Activation;
  topK: number | null;
  dModel: number;
  nLayers: number;
  nHeads: number;
  ffnMult: number;
  ffn: 'gated' | 'plain';
  positions: 'rotary' | 'learned';
  tiedEmbeddings: boolean;
  seqLen: number;
  vocabSize: number;
}

export type ModelConfig = MlpModelConfig | TransformerModelConfig;

export interface DataConfig {
  /** `brown`: the Brown corpus with our BPE tokenizer (transformer); `teacher` / `random-labels`: synthetic (mlp). */
  kind: 'brown' | 'teacher' | 'random-labels';
  /** Validation examples (mlp) or sequences (transformer) in the fixed validation batch. */
  valSize: number;
}

export interface OptimConfig {
  lr: number;
  schedule: 'cosine' | 'wsd' | 'constant';
  /** Fraction of steps spent warming up linearly from 0 (0 when `warmupSteps` is given). */
  warmup: number;
  /**
   * Warmup length in optimiser steps, independent of the run's length; replaces `warmup`. Absent
   * unless the sweep file sets it, so configurations without it keep their run keys. Runs that
   * differ only in `steps` then share their warmup and stable phase (token-budget ladders).
   */
  warmupSteps?: number;
  /** WSD only: fraction of steps in the final decay. */
  decay: number;
  /** Final learning rate as a fraction of `lr`. */
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clip; 0 = off. */
  gradClip: number;
}

export interface TrainingConfig {
  steps: number;
  batchSize: number;
  /** Evaluate (losses, sparsity, checkpoint) every this many steps and at the last step. */
  evalEvery: number;
}

export interface PruningConfig {
  schedule: PruningSchedule;
  /** Fractions of training at which pruning starts and reaches `finalSparsity`. */
  start: number;
  end: number;
  initialSparsity: number;
  finalSparsity: number;
  /** Update the masks every this many steps. */
  every: number;
  scope: 'global' | 'layer';
}

export interface MeasureConfig {
  /** Metric names exactly as stored: `exact`, `fat-0.01`, `topk-0.1`, `cett-0.2`, `ppl-1%`. */
  metrics: string[];
  /** The one that fills `run_points.activation_ratio`. */
  primary: string;
}

export interface RunConfig {
  model: ModelConfig;
  data: DataConfig;
  optim: OptimConfig;
  training: TrainingConfig;
  pruning: PruningConfig;
  measure: MeasureConfig;
  seed: number;
}

/** Sizes can be given explicitly or as a non-embedding parameter budget at a width/depth ratio. */
export type SizeSpec =
  | { dModel: number; nLayers: number; nHeads?: number }
  | { budget: number; ratio: number };

/** The validated sweep file. `base` is a RunConfig minus what the grid always varies (seed, pruning). */
export interface SweepSpec {
  name: string;
  taskQueue: string;
  maxParallel: number;
  /** Runs whose training steps are split into activities of at most this many steps. */
  segmentSteps: number;
  /** Runs the sweep workflow starts before it continues as new (keeps its history short). */
  continueAsNewEvery?: number;
  /** A training slot silent for this long is presumed dead; its segment is retried elsewhere. */
  heartbeatTimeoutSeconds: number;
  /** Where this sweep's checkpoints go (`postgres`, `file:///shared/path`, `s3://bucket/prefix`); absent = each worker's default. */
  checkpointStore?: string;
  /** `false`: never branch runs from a shared trunk (domain/ladder.ts); absent = ladders where they apply. */
  ladder?: boolean;
  base: Omit<RunConfig, 'seed' | 'pruning'>;
  grid: {
    activation: Activation[];
    size: SizeSpec[];
    pruning: PruningConfig[];
    seed: number[];
    /** Token budgets expressed as training steps; empty = base.training.steps. */
    steps: number[];
    /** Peak learning rates; empty = base.optim.lr. */
    lr: number[];
  };
}
