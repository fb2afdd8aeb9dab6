// What the trainer needs from a model family: its parameters and a loss with gradients.
import type * as tf from '@tensorflow/tfjs-core';
import type { FfnCapture } from '../sparsity/probe';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Initial values: all ones (norm gains) or N(0, std²). */
  init: { kind: 'ones' } | { kind: 'normal'; std: number };
  /** Linear weights that pruning may zero and that count toward `ParamCounts.linear`. */
  prunable: boolean;
  /** Decoupled weight decay applies to matrices, not to norm gains. */
  decay: boolean;
}

/** One batch on the device. MLP: float inputs [B, inputDim]; Transformer: int32 token ids [B·T]. */
export interface Batch {
  inputs: tf.Tensor;
  labels: tf.Tensor1D;
}

/** Hooks for the sparsity probe on a forward pass. */
export interface ForwardProbe {
  /** When given, each FFN layer pushes its h (kept) and W_down here. */
  captures?: FfnCapture[];
  /** Per-layer contribution thresholds: neurons with |h_i|·‖W_down[i,:]‖ below are zeroed. */
  thresholds?: number[];
}

export interface Network {
  readonly specs: ParamSpec[];
  /** Number of FFN layers (what the sparsity probe reports on). */
  readonly ffnLayers: number;
  /** Mean loss and d loss / d param for every spec, in order. Synchronous; call inside tf.tidy. */
  lossAndGrads(params: tf.Tensor[], batch: Batch): { loss: tf.Scalar; grads: tf.Tensor[] };
  /** Forward only (dense unless `probe.thresholds`), returning the mean loss. Call inside tf.tidy. */
  loss(params: tf.Tensor[], batch: Batch, probe?: ForwardProbe): tf.Scalar;
  /** Frees constant tensors the network holds (masks, tables). */
  dispose(): void;
}
