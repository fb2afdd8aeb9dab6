// The contract between the orchestration (activities/runSegment.ts) and the training engine.
import type { ParamCounts } from '../domain/sizing';
import type { CheckpointContents } from './checkpoint';
import type { RunConfig } from '../domain/spec';

export type { ParamCounts };

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** The choices in the order tried when none is requested: fastest first. */
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

/** The native TensorFlow build a process wants: CPU, or CUDA (tfjs-node-gpu). */
export type NativeVariant = 'cpu' | 'gpu';

/** A place tfjs-node may be loaded from (`require` request), with a label for error messages. */
export interface NativeCandidate {
  label: string;
  request: string;
}

/** Where the engine reads and writes on disk. The caller (a worker, a bench, a test) decides; the engine never guesses. */
export interface EnginePaths {
  /** Derived data shared by the processes of a host: trained tokenizers, tokenised corpora. */
  cacheDir: string;
  /** Where tfjs-node may be, in order (stack/paths.ts nativeCandidates); empty = wasm/cpu only. */
  nativeCandidates: NativeCandidate[];
}


export interface MetricSummary {
  /** Exactly the stored metric name: `exact`, `fat-0.01`, `topk-0.1`, `cett-0.2`, `ppl-1%`. */
  metric: string;
  /** Mean over FFN layers of each layer's activation ratio. */
  activationRatio: number;
  /** Extra figures a metric reports, e.g. `{cett, pplRatio}` for `ppl-p%`, `{threshold}` for FAT. */
  detail?: Record<string, number>;
}

export interface LayerMetric {
  metric: string;
  layer: number;
  activationRatio: number;
}

export interface EvalResult {
  step: number;
  tokens: number;
  valLoss: number;
  metrics: MetricSummary[];
  layers: LayerMetric[];
  /** Fraction of FFN neurons active on < 0.1% of validation tokens (exact for ReLU family, else by the primary metric's rule). */
  deadRatio: number;
  /** Non-zero weights of the prunable linear layers now. */
  nonzeroParams: number;
  /** Seconds spent measuring sparsity in this evaluation (reported as overhead). */
  measureSeconds: number;
}

export interface StepLog {
  step: number;
  loss: number;
  lr: number;
}

export interface Trainer {
  readonly config: RunConfig;
  readonly backend: BackendName;
  /** Optimiser steps completed. */
  readonly step: number;
  /** Training tokens consumed (examples for the MLP). */
  readonly tokens: number;
  readonly params: ParamCounts;
  /** Sum over completed steps of the non-zero linear parameter count (N̄ = this / step). */
  readonly nonzeroParamSteps: number;
  /** N̄: `nonzeroParamSteps / step` (the only place it is computed). */
  readonly avgNonzeroParams: number;
  /** One optimiser step; batch and every random draw derive from (seed, step). A NaN/Inf loss is returned, not thrown. */
  trainStep(): Promise<StepLog>;
  /** Validation loss and sparsity metrics on the fixed validation batch. */
  evaluate(): Promise<EvalResult>;
  /** Everything needed to resume bit-exactly: parameters, optimiser state, masks, step, counters. */
  checkpoint(): Promise<Uint8Array>;
  /** The same state as live tensors, for streaming it out (engine/checkpointStream.ts) without a whole-checkpoint buffer; valid until the next step. */
  checkpointContents(): CheckpointContents;
  dispose(): void;
}
