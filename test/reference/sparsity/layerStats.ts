// FROZEN reference copy of LayerStats as it was before the speed-up (see ../layerStats.ts), for tests and
// test/reference/measureBench.ts only.
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
// Cost: the accumulation is one T·F·D multiply-add pass in plain JS (about 1 s per layer for 512 tokens with
// dFF = 1024, dModel = 256). Above `curveTokens` tokens the CETT curve is built from an evenly strided
// sample of that many tokens (the thresholds are then estimates); activation ratios and dead-neuron
// counts at the chosen thresholds are always counted over all tokens.

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
  /** Per token, neuron indices sorted by ascending contribution: order[t·F + j]. */
  order: Uint32Array;
  /** Per token, the sorted contributions. */
  sorted: Float32Array;
  /** Per token, the number of neurons with c > 0. */
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
  private orders: Orders | null = null;
  private curves: Curves | null = null;
  private readonly ratioCache = new Map<number, number>();

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
      for (let j = F - kept; j < F; j++) perNeuron[o.order[t * F + j]]++;
    }
    let err = 0;
    for (let s = 0; s < c.sample.length; s++) {
      for (let j = 0; j < F - kk; j++) err += c.delta[s * F + j];
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
    let r = this.ratioCache.get(cut.k);
    if (r === undefined) {
      r = this.countActive((_h, t, i) => this.contribution(t, i) >= cut.activeFrom).ratio;
      this.ratioCache.set(cut.k, r);
    }
    return r;
  }

  /** Largest contribution over all tokens. */
  maxContribution(): number {
    const o = this.ensureOrders();
    const F = this.neurons;
    let m = 0;
    for (let t = 0; t < this.tokens; t++) m = Math.max(m, o.sorted[t * F + F - 1]);
    return m;
  }

  /** Per-neuron count of tokens with c_ti ≥ activeFrom. */
  activeCountsAt(cut: Cut): Uint32Array {
    return this.countActive((_h, t, i) => this.contribution(t, i) >= cut.activeFrom).perNeuron;
  }

  private ensureOrders(): Orders {
    if (this.orders !== null) return this.orders;
    const { tokens: T, neurons: F, h, rowNorm } = this;
    const order = new Uint32Array(T * F);
    const sorted = new Float32Array(T * F);
    const positive = new Uint32Array(T);
    // Per-token sort by contribution: pack (float32 bits of c, neuron index) into one exact float64, so
    // the native numeric sort does it (bits < 2^31 for c ≥ 0, index < 2^shift, 31 + shift ≤ 53).
    const shift = Math.max(1, Math.ceil(Math.log2(F + 1)));
    if (31 + shift > 53) throw new Error(`dFF = ${F} is too large for the contribution sort`);
    const scale = 2 ** shift;
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const packed = new Float64Array(F);
    for (let t = 0; t < T; t++) {
      const base = t * F;
      for (let i = 0; i < F; i++) {
        f32[0] = Math.abs(h[base + i]) * rowNorm[i];
        packed[i] = u32[0] * scale + i;
      }
      packed.sort();
      let pos = 0;
      for (let j = 0; j < F; j++) {
        const i = packed[j] % scale;
        order[base + j] = i;
        const key = this.contribution(t, i);
        sorted[base + j] = key;
        if (key > 0) pos++;
      }
      positive[t] = pos;
    }
    this.orders = { order, sorted, positive };
    return this.orders;
  }

  private ensureCurves(): Curves {
    if (this.curves !== null) return this.curves;
    const { tokens: T, neurons: F, dModel: D, h, wDown } = this;
    const o = this.ensureOrders();
    const S = Math.min(T, Math.max(1, Math.floor(this.curveTokens)));
    const sample = new Uint32Array(S);
    for (let s = 0; s < S; s++) sample[s] = Math.floor((s * T) / S);
    const N = S * F;
    const delta = new Float64Array(N);
    const keys = new Float32Array(N);
    const acc = new Float64Array(D);
    const norms = new Float64Array(F + 1);
    let live = 0;
    for (let s = 0; s < S; s++) {
      const t = sample[s];
      const base = t * F;
      keys.set(o.sorted.subarray(base, base + F), s * F);
      // Accumulate the neuron outputs in ascending contribution order: norms[j] = ‖Σ of the first j‖.
      acc.fill(0);
      norms[0] = 0;
      for (let j = 0; j < F; j++) {
        if (o.sorted[base + j] > 0) {
          const i = o.order[base + j];
          const hv = h[base + i];
          const row = i * D;
          let sq = 0;
          for (let d = 0; d < D; d++) {
            const a = acc[d] + hv * wDown[row + d];
            acc[d] = a;
            sq += a * a;
          }
          norms[j + 1] = Math.sqrt(sq);
        } else norms[j + 1] = norms[j];
      }
      const outNorm = norms[F];
      if (outNorm > 0) {
        live++;
        for (let j = 0; j < F; j++) delta[s * F + j] = (norms[j + 1] - norms[j]) / outNorm;
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
    const cutList: number[] = [0];
    for (let k = 1; k < N; k++) if (sortedKeys[k - 1] < sortedKeys[k]) cutList.push(k);
    if (N > 0) cutList.push(N);
    const cuts = Uint32Array.from(cutList);
    const envelope = new Float64Array(cuts.length);
    let m = -Infinity;
    for (let q = 0; q < cuts.length; q++) {
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
