// AdamW with global-norm clipping and pruning masks, written as plain tensor arithmetic so its state
// is three arrays we can checkpoint and restore bit for bit.
import * as tf from '@tensorflow/tfjs-core';
import type { OptimConfig } from '../domain/spec';
import type { ParamSpec } from './model/network';

export interface AdamState {
  m: tf.Tensor[];
  v: tf.Tensor[];
}

export function zeroAdamState(params: tf.Tensor[]): AdamState {
  return { m: params.map((p) => tf.zerosLike(p)), v: params.map((p) => tf.zerosLike(p)) };
}

/**
 * One AdamW update (decoupled weight decay on matrices only) for optimiser step `step` (0-based).
 * Gradients are first scaled by min(1, clip/‖g‖) when clipping is on. `masks[i]`, when present,
 * multiplies the new parameter and both moments so that pruned weights stay exactly zero.
 * Returns new tensors; the caller disposes the old ones.
 */
export function adamWUpdate(
  optim: OptimConfig,
  specs: ParamSpec[],
  params: tf.Tensor[],
  grads: tf.Tensor[],
  state: AdamState,
  masks: (tf.Tensor | null)[],
  lr: number,
  step: number,
): { params: tf.Tensor[]; state: AdamState } {
  let scale: tf.Tensor | null = null;
  if (optim.gradClip > 0) {
    // min(1, clip/‖g‖) stays on the device: no sync per step just for clipping.
    scale = tf.tidy(() => {
      const sq = tf.addN(grads.map((g) => tf.sum(tf.square(g))));
      return tf.minimum(1, tf.div(optim.gradClip, tf.add(tf.sqrt(sq), 1e-12)));
    });
  }
  const t = step + 1;
  const bc1 = 1 - optim.beta1 ** t;
  const bc2 = 1 - optim.beta2 ** t;
  const out: tf.Tensor[] = [];
  const m: tf.Tensor[] = [];
  const v: tf.Tensor[] = [];
  params.forEach((p, i) => {
    // One scope per tensor: temporaries of one update at a time, not of all of them.
    const r = tf.tidy(() => {
      const g = scale ? tf.mul(grads[i], scale) : grads[i];
      let mi = tf.add(tf.mul(state.m[i], optim.beta1), tf.mul(g, 1 - optim.beta1));
      let vi = tf.add(tf.mul(state.v[i], optim.beta2), tf.mul(tf.square(g), 1 - optim.beta2));
      const update = tf.div(tf.div(mi, bc1), tf.add(tf.sqrt(tf.div(vi, bc2)), optim.eps));
      const decayed = specs[i].decay && optim.weightDecay > 0 ? tf.mul(p, 1 - lr * optim.weightDecay) : p;
      let next = tf.sub(decayed, tf.mul(update, lr));
      const mask = masks[i];
      if (mask) {
        next = tf.mul(next, mask);
        mi = tf.mul(mi, mask);
        vi = tf.mul(vi, mask);
      }
      return [next, mi, vi];
    });
    out.push(r[0]);
    m.push(r[1]);
    v.push(r[2]);
  });
  scale?.dispose();
  return { params: out, state: { m, v } };
}
