// The contract between a model (engine/model) and the sparsity measurements (engine/sparsity).
import type * as tf from '@tensorflow/tfjs-core';

export interface FfnCapture {
  /** Per-token FFN neuron outputs before the down projection, [tokens, dFF]:
   *  `act(x·W_gate) ⊙ (x·W_up)` for gated FFNs, `act(x·W_in)` for plain ones. */
  h: tf.Tensor2D;
  /** The down projection, [dFF, dModel]; neuron i contributes `h_i · W_down[i,:]`. */
  wDown: tf.Tensor2D;
}

export interface SparsityProbe {
  /** Number of FFN layers. */
  readonly layers: number;
  /** Dense forward over the fixed validation batch: its mean loss and every FFN layer's capture (caller disposes). */
  capture(): { loss: number; layers: FfnCapture[] };
  /** Mean validation loss when, in every FFN layer l and for every token, the neurons whose contribution
   *  `|h_i|·‖W_down[i,:]‖` is below `thresholds[l]` are zeroed. */
  lossWithThresholds(thresholds: number[]): number;
}
