// Causal multi-head self-attention with a fused QKV projection, optional rotary positions, and a
// hand-written backward. Per-head products go through `batchedMatMul`, which loops over 2-D matMuls:
// on tfjs-wasm a [64,128,64]×[64,64,128] batched matMul measured ~6× slower than 64 plain ones.
import * as tf from '@tensorflow/tfjs-core';

/** a[i]·b[i] for every i of the leading axis. */
export function batchedMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const as = tf.unstack(a) as tf.Tensor[];
  const bs = tf.unstack(b) as tf.Tensor[];
  return tf.stack(as.map((x, i) => tf.matMul(x, bs[i]))) as tf.Tensor;
}

export interface AttentionShape {
  batch: number;
  seqLen: number;
  heads: number;
  headDim: number;
}

/** Constant tensors per sequence length: the causal mask and the rotary tables. */
export interface AttentionTables {
  /** [T, T]: 0 on and below the diagonal, −1e9 above. */
  causalMask: tf.Tensor;
  /** [T, d]: cos(pos·θ) per dimension, each head's halves sharing frequencies. */
  cos: tf.Tensor | null;
  /** [T, d]: sin(pos·θ), negated on each head's first half (folds rotate-half's sign in). */
  sinSigned: tf.Tensor | null;
}

export function attentionTables(seqLen: number, dModel: number, heads: number, rotary: boolean): AttentionTables {
  const mask = new Float32Array(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) for (let j = i + 1; j < seqLen; j++) mask[i * seqLen + j] = -1e9;
  const causalMask = tf.tensor2d(mask, [seqLen, seqLen]);
  if (!rotary) return { causalMask, cos: null, sinSigned: null };
  const hd = dModel / heads;
  const half = hd / 2;
  const cos = new Float32Array(seqLen * dModel);
  const sin = new Float32Array(seqLen * dModel);
  for (let t = 0; t < seqLen; t++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd; i++) {
        const freq = Math.pow(10000, -(i % half) / half);
        const at = t * dModel + h * hd + i;
        cos[at] = Math.cos(t * freq);
        sin[at] = (i < half ? -1 : 1) * Math.sin(t * freq);
      }
    }
  }
  return { causalMask, cos: tf.tensor2d(cos, [seqLen, dModel]), sinSigned: tf.tensor2d(sin, [seqLen, dModel]) };
}

/** Swap the two halves of every head: [x1, x2] → [x2, x1] (a permutation, its own transpose).
 *  split + concat measured 2.5× faster than tf.reverse on tfjs-wasm. */
function swapHalves(x: tf.Tensor, s: AttentionShape): tf.Tensor {
  const n = x.shape[0]!;
  const [a, b] = tf.split(tf.reshape(x, [n * s.heads, s.headDim]), 2, 1);
  return tf.reshape(tf.concat([b, a], 1), [n, s.heads * s.headDim]);
}

/** RoPE: x·cos + rotateHalf(x)·sin, with rotateHalf([x1,x2]) = [−x2, x1] = swap(x)·sign. */
function rope(x: tf.Tensor, s: AttentionShape, tb: AttentionTables): tf.Tensor {
  const x3 = tf.reshape(x, [s.batch, s.seqLen, -1]);
  const sw = tf.reshape(swapHalves(x, s), [s.batch, s.seqLen, -1]);
  return tf.reshape(tf.add(tf.mul(x3, tb.cos!), tf.mul(sw, tb.sinSigned!)), x.shape) as tf.Tensor;
}

/** Transpose of RoPE: dy·cos + swap(dy·sinSigned). */
function ropeBackward(dy: tf.Tensor, s: AttentionShape, tb: AttentionTables): tf.Tensor {
  const d3 = tf.reshape(dy, [s.batch, s.seqLen, -1]);
  const scaled = tf.reshape(tf.mul(d3, tb.sinSigned!), dy.shape) as tf.Tensor;
  return tf.add(tf.reshape(tf.mul(d3, tb.cos!), dy.shape), swapHalves(scaled, s)) as tf.Tensor;
}

/** [N, d] → [B·H, T, hd] (or [B·H, hd, T] when `transposed`). */
function toHeads(x: tf.Tensor, s: AttentionShape, transposed = false): tf.Tensor {
  const x4 = tf.reshape(x, [s.batch, s.seqLen, s.heads, s.headDim]);
  const perm = transposed ? [0, 2, 3, 1] : [0, 2, 1, 3];
  const bh = s.batch * s.heads;
  return tf.reshape(tf.transpose(x4, perm), transposed ? [bh, s.headDim, s.seqLen] : [bh, s.seqLen, s.headDim]);
}

function fromHeads(x: tf.Tensor, s: AttentionShape): tf.Tensor {
  const x4 = tf.reshape(x, [s.batch, s.heads, s.seqLen, s.headDim]);
  return tf.reshape(tf.transpose(x4, [0, 2, 1, 3]), [s.batch * s.seqLen, s.heads * s.headDim]);
}

export interface AttentionCache {
  x: tf.Tensor;
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  probs: tf.Tensor;
  merged: tf.Tensor;
}

export function attentionForward(
  x: tf.Tensor,
  wQkv: tf.Tensor,
  wO: tf.Tensor,
  s: AttentionShape,
  tb: AttentionTables,
): { out: tf.Tensor; cache: AttentionCache } {
  let [q, k, v] = tf.split(tf.matMul(x, wQkv), 3, 1) as tf.Tensor[];
  if (tb.cos) {
    q = rope(q, s, tb);
    k = rope(k, s, tb);
  }
  const qh = toHeads(q, s);
  const kh = toHeads(k, s);
  const vh = toHeads(v, s);
  const scores = tf.add(tf.mul(batchedMatMul(qh, toHeads(k, s, true)), 1 / Math.sqrt(s.headDim)), tb.causalMask);
  const probs = tf.softmax(scores) as tf.Tensor;
  const merged = fromHeads(batchedMatMul(probs, vh), s);
  return { out: tf.matMul(merged, wO), cache: { x, q: qh, k: kh, v: vh, probs, merged } };
}

export function attentionBackward(
  c: AttentionCache,
  wQkv: tf.Tensor,
  wO: tf.Tensor,
  s: AttentionShape,
  tb: AttentionTables,
  dOut: tf.Tensor,
): { dx: tf.Tensor; dQkv: tf.Tensor; dO: tf.Tensor } {
  const dO = tf.matMul(tf.transpose(c.merged), dOut);
  const dMerged = toHeads(tf.matMul(dOut, tf.transpose(wO)), s);
  const dProbs = batchedMatMul(dMerged, tf.transpose(c.v, [0, 2, 1]));
  const dV = batchedMatMul(tf.transpose(c.probs, [0, 2, 1]), dMerged);
  // Softmax backward: dS = P ⊙ (dP − Σ_j dP⊙P), then the 1/√hd scale of the scores.
  const dScores = tf.mul(tf.mul(c.probs, tf.sub(dProbs, tf.sum(tf.mul(dProbs, c.probs), -1, true))), 1 / Math.sqrt(s.headDim)) as tf.Tensor;
  let dQ = fromHeads(batchedMatMul(dScores, c.k), s);
  let dK = fromHeads(batchedMatMul(tf.transpose(dScores, [0, 2, 1]), c.q), s);
  if (tb.cos) {
    dQ = ropeBackward(dQ, s, tb);
    dK = ropeBackward(dK, s, tb);
  }
  const dqkv = tf.concat([dQ, dK, fromHeads(dV, s)], 1);
  return { dx: tf.matMul(dqkv, tf.transpose(wQkv)), dQkv: tf.matMul(tf.transpose(c.x), dqkv), dO };
}
