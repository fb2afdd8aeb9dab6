// One FFN layer's activations on the validation batch, and the curves every threshold-based metric
// reads: pure typed-array arithmetic (no tfjs), so it is cheap to test against hand-computed values.
//
// Notation: T tokens, F = dFF neurons, D = dModel. Neuron i on token t outputs the vector
// n_ti = h_ti·W_down[i,:]; its contribution (magnitude) is c_ti = |h_ti|·‖W_down[i,:]‖ = ‖n_ti‖, and the
// layer output is out_t = Σ_i n_ti.
//
// CETT ("ReLU² Wins", Zhang et al. 2024): with threshold τ, the neurons with c_ti < τ are dropped and
//   CETT_t(τ) = ‖Σ_{i: c_ti < τ} n_ti‖ / ‖out_t‖,   CETT(τ) = mean over tokens with out_t ≠ 0.
// For every token we sort its neurons by contribution and accumulate n_ti in that order, which gives
// CETT_t at every possible cut at the cost of one matmul (neurons with c = 0 are skipped). Pooling the
// per-token jumps of CETT_t over all T·F (contribution, jump) events and sorting them by contribution
// gives the layer's exact CETT(τ) curve at every distinct contribution value: a threshold search then
// never touches the activations again.
//
// Cost: the accumulation is one T·F·D multiply-add pass over the non-zero contributions, run by a small
// hand-assembled WebAssembly SIMD kernel (./curveKernel; float64, the same arithmetic as the plain-JS loop
// it falls back to). Every per-token and pooled array is typed and built once per layer; the metrics
// only read them. Above `curveTokens` tokens the CETT curve is built from an evenly strided
// sample of that many tokens (the thresholds are then estimates); activation ratios and dead-neuron
// counts at the chosen thresholds are always counted over all tokens.

import { prefixNorms } from './curveKernel';

export interface Cut {
  /** Number of pooled (token, neuron) pairs dropped, 0..T·F. */
  k: number;
  /** Threshold to hand to `SparsityProbe.lossWithThresholds`: drops exactly those k pairs (c < τ). */
  tau: number;
  /** Smallest contribution that stays active (c ≥ activeFrom); Infinity when everything is dropped. */
  activeFrom: number;
  /** Mean CETT at this cut. */
  cett: number;
}

/** Default cap on the tokens the CETT curve is built from. */
export const DEFAULT_CURVE_TOKENS = 512;

interface Orders {
  /** Per token, neuron indices sorted by ascending contribution (ties by index): order[t·F + j]. */
  order: Uint32Array;
  /** Per token, the sorted contributions. */
  sorted: Float32Array;
  /** Per token, the number of neurons with c > 0 (they are the last `positive[t]` of its order). */
  positive: Uint32Array;
}

interface Curves {
  /** The tokens the curve is built from. */
  sample: Uint32Array;
  /** Per sampled token s, the jump of CETT when its sorted neuron j is dropped: delta[s·F + j]
   *  (0 for tokens with out = 0). */
  delta: Float64Array;
  /** Sampled tokens with a non-zero layer output (the CETT mean runs over these). */
  live: number;
  /** All sampled contributions, ascending. */
  keys: Float32Array;
  /** Mean CETT when the first k pooled pairs are dropped, k = 0..T·F. */
  cumCett: Float64Array;
  /** Valid cut positions (0, T·F, and every k with keys[k−1] < keys[k]), ascending. */
  cuts: Uint32Array;
  /** Running maximum of cumCett over the valid cuts: the monotone CETT curve the search reads. */
  envelope: Float64Array;
}

export class LayerStats {
  readonly tokens: number;
  readonly neurons: number;
  readonly dModel: number;
  /** ‖W_down[i,:]‖ per neuron. */
  readonly rowNorm: Float64Array;
  private contrib: Float32Array | null = null;
  private orders: Orders | null = null;
  private curves: Curves | null = null;
  private maxC: number | null = null;
  /** Activation counts at a cut, keyed by its `activeFrom` (every token, not only the curve sample). */
  private readonly countCache = new Map<number, { ratio: number; perNeuron: Uint32Array }>();

  constructor(
    /** [T, F] row-major. */
    readonly h: Float32Array,
    /** [F, D] row-major. */
    readonly wDown: Float32Array,
    tokens: number,
    neurons: number,
    dModel: number,
    /** Build the CETT curve from at most this many tokens (evenly strided). */
    readonly curveTokens: number = DEFAULT_CURVE_TOKENS,
  ) {
    if (h.length !== tokens * neurons) throw new Error(`h has ${h.length} values, expected ${tokens}×${neurons}`);
    if (wDown.length !== neurons * dModel) {
      throw new Error(`wDown has ${wDown.length} values, expected ${neurons}×${dModel}`);
    }
    this.tokens = tokens;
    this.neurons = neurons;
    this.dModel = dModel;
    this.rowNorm = new Float64Array(neurons);
    for (let i = 0; i < neurons; i++) {
      let s = 0;
      for (let d = 0; d < dModel; d++) s += wDown[i * dModel + d] ** 2;
      this.rowNorm[i] = Math.sqrt(s);
    }
  }

  /** c_ti, rounded to float32 so that it compares equal to the pooled keys. */
  contribution(t: number, i: number): number {
    return Math.fround(Math.abs(this.h[t * this.neurons + i]) * this.rowNorm[i]);
  }

  /** Every c_ti as float32, [T, F] row-major (computed once). */
  contributions(): Float32Array {
    if (this.contrib !== null) return this.contrib;
    const { tokens: T, neurons: F, h, rowNorm } = this;
    const c = new Float32Array(T * F);
    for (let t = 0; t < T; t++) {
      const base = t * F;
      for (let i = 0; i < F; i++) c[base + i] = Math.abs(h[base + i]) * rowNorm[i];
    }
    this.contrib = c;
    return c;
  }

  /** Mean over tokens of the fraction of neurons with pred(h_ti) true, and per-neuron active counts. */
  countActive(pred: (h: number, t: number, i: number) => boolean): { ratio: number; perNeuron: Uint32Array } {
    const { tokens: T, neurons: F, h } = this;
    const perNeuron = new Uint32Array(F);
    let total = 0;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < F; i++) {
        if (pred(h[t * F + i], t, i)) {
          perNeuron[i]++;
          total++;
        }
      }
    }
    return { ratio: T * F === 0 ? 0 : total / (T * F), perNeuron };
  }

  /** `countActive` for |h| > eps (eps < 0: h ≠ 0, the `exact` rule), without a callback per pair. */
  countAbove(eps: number | null): { ratio: number; perNeuron: Uint32Array } {
    const { tokens: T, neurons: F, h } = this;
    const perNeuron = new Uint32Array(F);
    let total = 0;
    for (let t = 0; t < T; t++) {
      const base = t * F;
      if (eps === null) {
        for (let i = 0; i < F; i++) if (h[base + i] !== 0) perNeuron[i]++;
      } else {
        for (let i = 0; i < F; i++) if (Math.abs(h[base + i]) > eps) perNeuron[i]++;
      }
    }
    for (let i = 0; i < F; i++) total += perNeuron[i];
    return { ratio: T * F === 0 ? 0 : total / (T * F), perNeuron };
  }

  /** Top-k per token by contribution. `ratio` counts only neurons with c > 0 among the k (a neuron that
   *  contributes nothing is not active even if the budget k would allow it); `cett` is the mean tail
   *  truncation error of keeping only the k (over the curve's token sample); `perNeuron` counts, per
   *  neuron, the tokens where it is kept. */
  topK(k: number): { ratio: number; cett: number; perNeuron: Uint32Array } {
    const o = this.ensureOrders();
    const c = this.ensureCurves();
    const { tokens: T, neurons: F } = this;
    const kk = Math.min(F, Math.max(0, k));
    const perNeuron = new Uint32Array(F);
    let active = 0;
    for (let t = 0; t < T; t++) {
      const kept = Math.min(kk, o.positive[t]);
      active += kept;
      const base = t * F;
      for (let j = F - kept; j < F; j++) perNeuron[o.order[base + j]]++;
    }
    let err = 0;
    const delta = c.delta;
    for (let s = 0; s < c.sample.length; s++) {
      const base = s * F;
      for (let j = 0; j < F - kk; j++) err += delta[base + j];
    }
    return {
      ratio: T * F === 0 ? 0 : active / (T * F),
      cett: c.live === 0 ? 0 : err / c.live,
      perNeuron,
    };
  }

  /** The cut for a target CETT `v`: the most pairs dropped such that the (monotone envelope of the) mean
   *  CETT of every cut up to it stays ≤ v. Monotone in v: a larger v never keeps more neurons. */
  cutForCett(v: number): Cut {
    const c = this.ensureCurves();
    let lo = 0;
    let hi = c.cuts.length - 1;
    const limit = v + 1e-12;
    if (c.envelope[hi] <= limit) lo = hi;
    else {
      // invariant: envelope[lo] ≤ limit < envelope[hi]
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (c.envelope[mid] <= limit) lo = mid;
        else hi = mid;
      }
    }
    return this.cutAt(c.cuts[lo]);
  }

  /** The cut that drops the first k pooled pairs (k must be a valid cut position). */
  cutAt(k: number): Cut {
    const c = this.ensureCurves();
    const N = c.keys.length;
    let tau: number;
    if (k === 0) tau = 0;
    else if (k === N) tau = this.maxContribution() > 0 ? this.maxContribution() * 2 : 1;
    else tau = (c.keys[k - 1] + c.keys[k]) / 2;
    return { k, tau, activeFrom: k === N ? Infinity : c.keys[k], cett: c.cumCett[k] };
  }

  /** Activation ratio at a cut: the fraction of all (token, neuron) pairs with c ≥ activeFrom. */
  activationRatio(cut: Cut): number {
    const c = this.ensureCurves();
    const N = c.keys.length;
    if (c.sample.length === this.tokens) return N === 0 ? 0 : (N - cut.k) / N;
    return this.countAtLeast(cut.activeFrom).ratio;
  }

  /** Largest contribution over all tokens. */
  maxContribution(): number {
    if (this.maxC !== null) return this.maxC;
    const o = this.ensureOrders();
    const F = this.neurons;
    let m = 0;
    for (let t = 0; t < this.tokens; t++) m = Math.max(m, o.sorted[t * F + F - 1]);
    this.maxC = m;
    return m;
  }

  /** Per-neuron count of tokens with c_ti ≥ activeFrom. */
  activeCountsAt(cut: Cut): Uint32Array {
    // A copy: the cached counts must not be changed by a caller.
    return this.countAtLeast(cut.activeFrom).perNeuron.slice();
  }

  /** Ratio and per-neuron counts of pairs with c ≥ activeFrom, over every token (cached per threshold). */
  private countAtLeast(activeFrom: number): { ratio: number; perNeuron: Uint32Array } {
    let r = this.countCache.get(activeFrom);
    if (r !== undefined) return r;
    const { tokens: T, neurons: F } = this;
    const c = this.contributions();
    const perNeuron = new Uint32Array(F);
    for (let t = 0; t < T; t++) {
      const base = t * F;
      for (let i = 0; i < F; i++) if (c[base + i] >= activeFrom) perNeuron[i]++;
    }
    let total = 0;
    for (let i = 0; i < F; i++) total += perNeuron[i];
    r = { ratio: T * F === 0 ? 0 : total / (T * F), perNeuron };
    this.countCache.set(activeFrom, r);
    return r;
  }

  private ensureOrders(): Orders {
    if (this.orders !== null) return this.orders;
    const { tokens: T, neurons: F } = this;
    const cAll = this.contributions();
    const order = new Uint32Array(T * F);
    const sorted = new Float32Array(T * F);
    const positive = new Uint32Array(T);
    // Per-token sort by contribution: pack (float32 bits of c, neuron index) into one exact float64, so
    // the native numeric sort does it (bits < 2^31 for c ≥ 0, index < 2^shift, 31 + shift ≤ 53). The
    // zero contributions come first in index order (their packed key is the index), so only the
    // positive ones are sorted.
    const shift = Math.max(1, Math.ceil(Math.log2(F + 1)));
    if (31 + shift > 53) throw new Error(`dFF = ${F} is too large for the contribution sort`);
    const scale = 2 ** shift;
    const bits = new Uint32Array(cAll.buffer, cAll.byteOffset, cAll.length);
    const packed = new Float64Array(F);
    for (let t = 0; t < T; t++) {
      const base = t * F;
      let zeros = 0;
      let n = 0;
      for (let i = 0; i < F; i++) {
        const b = bits[base + i];
        if (b === 0) order[base + zeros++] = i;
        else packed[n++] = b * scale + i;
      }
      const view = packed.subarray(0, n);
      view.sort();
      let pos = 0;
      for (let j = 0; j < n; j++) {
        const i = view[j] % scale;
        const key = cAll[base + i];
        order[base + zeros + j] = i;
        sorted[base + zeros + j] = key;
        if (key > 0) pos++;
      }
      positive[t] = pos;
    }
    this.orders = { order, sorted, positive };
    return this.orders;
  }

  private ensureCurves(): Curves {
    if (this.curves !== null) return this.curves;
    const { tokens: T, neurons: F, dModel: D, h } = this;
    const o = this.ensureOrders();
    const S = Math.min(T, Math.max(1, Math.floor(this.curveTokens)));
    const sample = new Uint32Array(S);
    for (let s = 0; s < S; s++) sample[s] = Math.floor((s * T) / S);
    const N = S * F;
    const keys = new Float32Array(N);
    // Per sampled token: its sorted order and its signed h in that order, 0 where c is not > 0 (those
    // neurons are skipped, as they add nothing).
    const order = new Uint32Array(N);
    const hs = new Float64Array(N);
    for (let s = 0; s < S; s++) {
      const base = sample[s] * F;
      const row = s * F;
      keys.set(o.sorted.subarray(base, base + F), row);
      order.set(o.order.subarray(base, base + F), row);
      for (let j = 0; j < F; j++) if (keys[row + j] > 0) hs[row + j] = h[base + order[row + j]];
    }
    // norms[s·F + j] = ‖Σ of the first j+1 neuron outputs of token s‖ (in ascending contribution order).
    const norms = prefixNorms(this.wDown, F, D, order, hs, S);
    const delta = new Float64Array(N);
    let live = 0;
    for (let s = 0; s < S; s++) {
      const row = s * F;
      const outNorm = F === 0 ? 0 : norms[row + F - 1];
      if (outNorm > 0) {
        live++;
        let prev = 0;
        for (let j = 0; j < F; j++) {
          const n = norms[row + j];
          delta[row + j] = (n - prev) / outNorm;
          prev = n;
        }
      }
    }

    // Pool the events and sort them by contribution (LSD radix sort on the float32 bits, stable).
    const perm = radixSortFloat32(keys);
    const sortedKeys = new Float32Array(N);
    const cumCett = new Float64Array(N + 1);
    let sum = 0;
    for (let k = 0; k < N; k++) {
      const e = perm[k];
      sortedKeys[k] = keys[e];
      sum += delta[e];
      cumCett[k + 1] = live === 0 ? 0 : sum / live;
    }
    const cutBuf = new Uint32Array(N + 2);
    let nCuts = 0;
    cutBuf[nCuts++] = 0;
    for (let k = 1; k < N; k++) if (sortedKeys[k - 1] < sortedKeys[k]) cutBuf[nCuts++] = k;
    if (N > 0) cutBuf[nCuts++] = N;
    const cuts = cutBuf.slice(0, nCuts);
    const envelope = new Float64Array(nCuts);
    let m = -Infinity;
    for (let q = 0; q < nCuts; q++) {
      m = Math.max(m, cumCett[cuts[q]]);
      envelope[q] = m;
    }
    this.curves = { sample, delta, live, keys: sortedKeys, cumCett, cuts, envelope };
    return this.curves;
  }
}

/** Indices that sort non-negative float32 values ascending (stable), by three radix passes over the
 *  bit patterns (which order like the values when the sign bit is clear). */
function radixSortFloat32(values: Float32Array): Uint32Array {
  const n = values.length;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  let idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  let tmp = new Uint32Array(n);
  for (const [shift, width] of [
    [0, 11],
    [11, 11],
    [22, 10],
  ]) {
    const buckets = 1 << width;
    const mask = buckets - 1;
    const count = new Uint32Array(buckets + 1);
    for (let i = 0; i < n; i++) count[((bits[idx[i]] >>> shift) & mask) + 1]++;
    for (let b = 0; b < buckets; b++) count[b + 1] += count[b];
    for (let i = 0; i < n; i++) {
      const e = idx[i];
      tmp[count[(bits[e] >>> shift) & mask]++] = e;
    }
    [idx, tmp] = [tmp, idx];
  }
  return idx;
}
