/** Small statistics helpers shared by the fitters: metrics, quantiles, a seeded RNG. */

export interface ErrorMetrics {
  mae: number;
  mse: number;
  r2: number;
  /** Gaussian-likelihood AIC from the residual sum of squares: n·ln(SSE/n) + 2k. */
  aic: number;
  /** n·ln(SSE/n) + k·ln(n). */
  bic: number;
}

export function errorMetrics(y: ArrayLike<number>, pred: ArrayLike<number>, k: number): ErrorMetrics {
  const n = y.length;
  let sae = 0, sse = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    const r = pred[i] - y[i];
    sae += Math.abs(r);
    sse += r * r;
    sy += y[i];
  }
  const my = sy / n;
  let sst = 0;
  for (let i = 0; i < n; i++) sst += (y[i] - my) ** 2;
  const ll = n * Math.log(Math.max(sse, 1e-300) / n);
  return {
    mae: sae / n,
    mse: sse / n,
    r2: sst > 0 ? 1 - sse / sst : NaN,
    aic: ll + 2 * k,
    bic: ll + k * Math.log(n),
  };
}

/** Linear-interpolation quantile (numpy's default) of an unsorted array. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const s = Array.from(values).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Deterministic PRNG (mulberry32): same seed, same stream on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviate from a uniform generator (Box–Muller). */
export function gaussian(u: () => number): number {
  const a = Math.max(u(), 1e-300);
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * u());
}

/** Indices of a bootstrap resample (case resampling) of n points, fixed by (seed, replicate). */
export function resampleIndices(n: number, seed: number, replicate: number): Int32Array {
  const r = rng((seed * 1000003 + replicate * 7919 + 1) >>> 0);
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = Math.floor(r() * n);
  return idx;
}

/**
 * Cluster bootstrap: resamples whole clusters (e.g. the eval points of one run, which share its
 * noise) with replacement and returns the indices of all their points. `clusters[i]` is point i's
 * cluster id; the number of clusters drawn equals the number of distinct ids.
 */
export function clusterResampleIndices(clusters: readonly number[], seed: number, replicate: number): Int32Array {
  const members = new Map<number, number[]>();
  clusters.forEach((c, i) => { const m = members.get(c); if (m) m.push(i); else members.set(c, [i]); });
  const groups = [...members.values()];
  const r = rng((seed * 1000003 + replicate * 7919 + 1) >>> 0);
  const out: number[] = [];
  for (let k = 0; k < groups.length; k++) out.push(...groups[Math.floor(r() * groups.length)]);
  return Int32Array.from(out);
}

/** Upper quantile of the normal distribution (Acklam's rational approximation). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - pl) return -normalQuantile(1 - p);
  const q = p - 0.5, r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Student-t quantile (Cornish–Fisher expansion; accurate to ~1e-3 for dof ≥ 3). */
export function tQuantile(p: number, dof: number): number {
  const z = normalQuantile(p);
  if (!Number.isFinite(dof) || dof > 1e6) return z;
  const z3 = z ** 3, z5 = z ** 5, z7 = z ** 7;
  return z + (z3 + z) / (4 * dof) + (5 * z5 + 16 * z3 + 3 * z) / (96 * dof ** 2) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * dof ** 3);
}

export function logspace(lo: number, hi: number, count: number): number[] {
  const out: number[] = [];
  const a = Math.log(lo), b = Math.log(hi);
  for (let i = 0; i < count; i++) out.push(Math.exp(a + ((b - a) * i) / Math.max(1, count - 1)));
  return out;
}

export function linspace(lo: number, hi: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(lo + ((hi - lo) * i) / Math.max(1, count - 1));
  return out;
}
