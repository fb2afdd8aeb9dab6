// Layers with hand-written backward passes.
//
// tfjs's autodiff differentiates matMul with `transposeA/transposeB` flags, which the wasm backend
// runs 10-30× slower than a plain matMul (docs/design.md §3). Every backward here transposes explicitly
// and calls plain matMul. All functions are synchronous and meant to run inside one `tf.tidy`.
import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from '../../domain/spec';

export const RMS_EPS = 1e-6;

export interface RmsCache {
  x: tf.Tensor;
  /** 1/rms(x) per row, [N, 1]. */
  inv: tf.Tensor;
}

export function rmsNorm(x: tf.Tensor, gain: tf.Tensor): { y: tf.Tensor; cache: RmsCache } {
  const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), RMS_EPS)) as tf.Tensor;
  return { y: tf.mul(tf.mul(x, inv), gain), cache: { x, inv } };
}

/** With u = dy·g: dx = inv·u − x·inv³·mean(u·x); dg = Σ_rows dy·x·inv. */
export function rmsNormBackward(cache: RmsCache, gain: tf.Tensor, dy: tf.Tensor): { dx: tf.Tensor; dg: tf.Tensor } {
  const { x, inv } = cache;
  const xHat = tf.mul(x, inv);
  const dg = tf.sum(tf.mul(dy, xHat), 0) as tf.Tensor;
  const u = tf.mul(dy, gain);
  const proj = tf.mean(tf.mul(u, xHat), -1, true);
  const dx = tf.mul(tf.sub(u, tf.mul(xHat, proj)), inv) as tf.Tensor;
  return { dx, dg };
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** act(z). GELU is the tanh approximation (as in GPT-2), so its derivative is closed-form. */
export function activate(z: tf.Tensor, act: Activation): tf.Tensor {
  switch (act) {
    case 'relu':
      return tf.relu(z);
    case 'relu2':
      return tf.square(tf.relu(z));
    case 'silu':
      return tf.mul(z, tf.sigmoid(z));
    case 'gelu': {
      const t = tf.tanh(tf.mul(tf.add(z, tf.mul(0.044715, tf.pow(z, 3))), GELU_C));
      return tf.mul(tf.mul(0.5, z), tf.add(1, t));
    }
  }
}

/** dz = dA ⊙ act'(z). */
export function activateBackward(z: tf.Tensor, act: Activation, dA: tf.Tensor): tf.Tensor {
  switch (act) {
    case 'relu':
      return tf.mul(dA, tf.step(z));
    case 'relu2':
      return tf.mul(dA, tf.mul(2, tf.relu(z)));
    case 'silu': {
      const s = tf.sigmoid(z);
      // d/dz z·σ(z) = σ(z)·(1 + z·(1 − σ(z)))
      return tf.mul(dA, tf.mul(s, tf.add(1, tf.mul(z, tf.sub(1, s)))));
    }
    case 'gelu': {
      const z2 = tf.square(z);
      const t = tf.tanh(tf.mul(tf.mul(z, tf.add(1, tf.mul(0.044715, z2))), GELU_C));
      const dt = tf.mul(tf.sub(1, tf.square(t)), tf.mul(GELU_C, tf.add(1, tf.mul(3 * 0.044715, z2))));
      return tf.mul(dA, tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(0.5, z), dt)));
    }
  }
}

/** Mean softmax cross-entropy over rows and its gradient w.r.t. the logits. */
export function softmaxCrossEntropy(
  logits: tf.Tensor,
  labels: tf.Tensor,
  withGrad: boolean,
): { loss: tf.Scalar; dLogits: tf.Tensor | null } {
  const n = logits.shape[0]!;
  const vocab = logits.shape[1]!;
  const shifted = tf.sub(logits, tf.max(logits, -1, true));
  const expd = tf.exp(shifted);
  const sumExp = tf.sum(expd, -1, true);
  const oneHot = tf.oneHot(labels, vocab) as tf.Tensor;
  const picked = tf.sum(tf.mul(shifted, oneHot), -1, true);
  const loss = tf.mean(tf.sub(tf.log(sumExp), picked)) as tf.Scalar;
  if (!withGrad) return { loss, dLogits: null };
  const dLogits = tf.mul(tf.sub(tf.div(expd, sumExp), oneHot), 1 / n) as tf.Tensor;
  return { loss, dLogits };
}

/**
 * Runs `fn` in its own tidy scope: its temporaries are freed as soon as it returns and only the
 * tensors it returns survive. The wasm heap never shrinks, so peak memory is what matters; scoping
 * each block keeps the peak at "saved activations + one block's temporaries" instead of every
 * intermediate of the whole step.
 */
export function scoped<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** Disposes every tensor reachable in a cache object (activations no longer needed). */
export function disposeCache(cache: unknown): void {
  if (cache instanceof tf.Tensor) cache.dispose();
  else if (Array.isArray(cache)) cache.forEach(disposeCache);
  else if (cache && typeof cache === 'object') Object.values(cache).forEach(disposeCache);
}
