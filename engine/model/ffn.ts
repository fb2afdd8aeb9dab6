// The FFN block shared by the MLP and the Transformer, with train-time Top-k and the probe's
// threshold truncation. Gated: h = act(x·W_gate) ⊙ (x·W_up); plain: h = act(x·W_in); out = h·W_down.
import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from '../../domain/spec';
import { activate, activateBackward } from './layers';
import type { ForwardProbe } from './network';

export interface FfnWeights {
  /** W_gate [d, dFF] for gated FFNs, null for plain ones. */
  gate: tf.Tensor | null;
  /** W_up [d, dFF] (gated) or W_in [d, dFF] (plain). */
  up: tf.Tensor;
  down: tf.Tensor;
}

export interface FfnCache {
  x: tf.Tensor;
  /** Pre-activation of the activated branch (gate for gated FFNs, input for plain). */
  z: tf.Tensor;
  /** act(z). */
  a: tf.Tensor;
  /** x·W_up (gated only). */
  u: tf.Tensor | null;
  /** The FFN neuron outputs that reach W_down (after Top-k / thresholding). */
  h: tf.Tensor;
  /** 0/1 mask that Top-k or thresholding applied to h, or null. */
  keep: tf.Tensor | null;
}

/** 0/1 mask keeping, per row, the k entries of largest |h| (ties at the k-th value are kept). */
function topKMask(h: tf.Tensor, fraction: number): tf.Tensor {
  const dFF = h.shape[1]!;
  const k = Math.min(dFF, Math.max(1, Math.round(fraction * dFF)));
  const mag = tf.abs(h);
  const kth = tf.slice(tf.topk(mag, k, false).values, [0, k - 1], [-1, 1]);
  return tf.cast(tf.greaterEqual(mag, kth), 'float32') as tf.Tensor;
}

function thresholdMask(h: tf.Tensor, down: tf.Tensor, threshold: number): tf.Tensor {
  const rowNorms = tf.sqrt(tf.sum(tf.square(down), 1));
  return tf.cast(tf.greaterEqual(tf.mul(tf.abs(h), rowNorms), threshold), 'float32') as tf.Tensor;
}

export function ffnForward(
  x: tf.Tensor,
  w: FfnWeights,
  act: Activation,
  topK: number | null,
  layer: number,
  probe?: ForwardProbe,
): { out: tf.Tensor; cache: FfnCache } {
  const z = tf.matMul(x, w.gate ?? w.up);
  const a = activate(z, act);
  const u = w.gate ? tf.matMul(x, w.up) : null;
  let h = u ? tf.mul(a, u) : a;
  let keep: tf.Tensor | null = null;
  if (topK != null && topK < 1) keep = topKMask(h, topK);
  const threshold = probe?.thresholds?.[layer];
  if (threshold != null && threshold > 0) {
    const t = thresholdMask(keep ? tf.mul(h, keep) : h, w.down, threshold);
    keep = keep ? tf.mul(keep, t) : t;
  }
  if (keep) h = tf.mul(h, keep);
  // Clones share the data but not the handle: the caller disposes captures, never our weights.
  if (probe?.captures) probe.captures.push({ h: tf.keep(tf.clone(h)) as tf.Tensor2D, wDown: tf.keep(tf.clone(w.down)) as tf.Tensor2D });
  return { out: tf.matMul(h, w.down), cache: { x, z, a, u, h, keep } };
}

export function ffnBackward(
  cache: FfnCache,
  w: FfnWeights,
  act: Activation,
  dOut: tf.Tensor,
): { dx: tf.Tensor; dGate: tf.Tensor | null; dUp: tf.Tensor; dDown: tf.Tensor } {
  const xT = tf.transpose(cache.x);
  const dDown = tf.matMul(tf.transpose(cache.h), dOut);
  let dh = tf.matMul(dOut, tf.transpose(w.down));
  if (cache.keep) dh = tf.mul(dh, cache.keep);
  if (!w.gate || !cache.u) {
    const dz = activateBackward(cache.z, act, dh);
    return { dx: tf.matMul(dz, tf.transpose(w.up)), dGate: null, dUp: tf.matMul(xT, dz), dDown };
  }
  const dz = activateBackward(cache.z, act, tf.mul(dh, cache.u));
  const du = tf.mul(dh, cache.a);
  const dx = tf.add(tf.matMul(dz, tf.transpose(w.gate)), tf.matMul(du, tf.transpose(w.up))) as tf.Tensor;
  return { dx, dGate: tf.matMul(xT, dz), dUp: tf.matMul(xT, du), dDown };
}
