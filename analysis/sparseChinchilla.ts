/**
 * The sparse scaling law of Frantar, Riquelme, Houlsby, Alistarh & Evci, "Scaling Laws for
 * Sparsely-Connected Foundation Models" (ICLR 2024), eq. 1, in their notebook's parameterisation:
 *
 *   L(S, N, D) = (a·(1−S)^b + c)·N^(−d) + e·D^(−f) + g
 *
 * S ∈ [0, 1) the weight sparsity (at the end of training), N the non-zero parameters, D the
 * training data (their notebook: N in millions, `24·12·768²·scale·(1−S)/1e6`, and D = steps/1e5).
 * Objective (theirs, after Hoffmann et al.): the mean Huber loss (δ = 1e-3) of ln L̂ − ln L,
 * minimised by L-BFGS from random starts in [0, 1)^7; the best end point wins. The objective is
 * multi-modal (the notebook's 25 starts ended between 7.6e-6 and 1.4e-5 on the T5 data), so the
 * default is 300 seeded starts.
 */
import { HUBER_DELTA } from './chinchilla';
import { failedFit, percentileCi, predictedSpread, sampleCovariance, type FitOptions, type FitResult, type ParamFlag } from './fit';
import { lbfgs, type LbfgsOptions } from './lbfgs';
import { errorMetrics, resampleIndices, rng } from './stats';
import { classifyFit } from './verdict';

export interface SparsePoint {
  /** weight sparsity in [0, 1) */
  S: number;
  /** non-zero parameters (any unit; the notebook's: millions) */
  N: number;
  /** training data (any unit; the notebook's: steps / 1e5) */
  D: number;
  /** loss (> 0) */
  L: number;
}

export const SPARSE_NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const;
export const SPARSE_FORMULA = 'L(S,N,D) = (a*(1-S)^b + c)*N^(-d) + e*D^(-f) + g';

/** Evaluates the law at one point; p = [a, b, c, d, e, f, g]. */
export function sparseLoss(p: ArrayLike<number>, S: number, N: number, D: number): number {
  return (p[0] * Math.pow(1 - S, p[1]) + p[2]) * Math.pow(N, -p[3]) + p[4] * Math.pow(D, -p[5]) + p[6];
}

/** Mean Huber (δ) of ln L̂ − ln L over the points, with its gradient in p (NaN/Infinity where L̂ ≤ 0). */
export function sparseObjective(p: ArrayLike<number>, pts: readonly SparsePoint[], grad: Float64Array | null, delta = HUBER_DELTA): number {
  const [a, b, c, d, e, f] = [p[0], p[1], p[2], p[3], p[4], p[5]];
  const n = pts.length;
  let obj = 0;
  if (grad) grad.fill(0);
  for (const q of pts) {
    const one = 1 - q.S;
    const u = Math.pow(one, b);
    const P = Math.pow(q.N, -d);
    const Q = Math.pow(q.D, -f);
    const lhat = (a * u + c) * P + e * Q + p[6];
    if (!(lhat > 0)) return Infinity;
    const r = Math.log(lhat) - Math.log(q.L);
    const ar = Math.abs(r);
    let h: number;
    if (ar <= delta) { obj += 0.5 * r * r; h = r; } else { obj += delta * (ar - 0.5 * delta); h = r > 0 ? delta : -delta; }
    if (grad) {
      const w = h / lhat / n;
      grad[0] += w * u * P;
      grad[1] += w * a * u * (one > 0 ? Math.log(one) : 0) * P;
      grad[2] += w * P;
      grad[3] -= w * (a * u + c) * P * Math.log(q.N);
      grad[4] += w * Q;
      grad[5] -= w * e * Q * Math.log(q.D);
      grad[6] += w;
    }
  }
  return obj / n;
}

const SPARSE_LBFGS: LbfgsOptions = { gtol: 1e-12, ftol: 1e-12, fscale: 1e-14, maxIterations: 3000 };

export interface SparseLocalFit { x: number[]; f: number; converged: boolean; iterations: number; message: string; index: number }

export function fitSparseFrom(pts: readonly SparsePoint[], starts: readonly ArrayLike<number>[]): SparseLocalFit {
  let best: SparseLocalFit | null = null;
  starts.forEach((s, index) => {
    const r = lbfgs((x, g) => sparseObjective(x, pts, g), s, SPARSE_LBFGS);
    if (Number.isFinite(r.f) && (!best || r.f < best.f)) best = { x: Array.from(r.x), f: r.f, converged: r.converged, iterations: r.iterations, message: r.message, index };
  });
  return best ?? { x: SPARSE_NAMES.map(() => NaN), f: NaN, converged: false, iterations: 0, message: 'no start reached a finite objective', index: -1 };
}

/** `count` seeded uniform starts in [0, 1)^7 (the notebook's distribution). */
export function sparseStarts(count: number, seed = 0): number[][] {
  const u = rng(seed + 12345);
  return Array.from({ length: count }, () => SPARSE_NAMES.map(() => u()));
}

export interface SparseFitOptions extends FitOptions {
  /** random starts (default 300) */
  starts?: number;
  /** explicit starting points (replace the random ones) */
  startPoints?: number[][];
}

/**
 * Fits the sparse scaling law. Preconditions: more than 7 points, at least 2 distinct S, and at
 * least 3 distinct N and 3 distinct D (each of the N- and D-terms has three parameters with g
 * shared). Bootstrap replicates (rows resampled) are refitted from the optimum and 10 random starts.
 * Parameters are unbounded; a parameter is flagged not identified when its bootstrap interval is
 * non-finite, crosses 0 for an exponent (b, d, f), or is wider than 1000 × |estimate| (e and g
 * trade off without limit as f → 0: e·D^(−f) + g ≈ e + g).
 */
export async function fitSparseChinchilla(points: readonly SparsePoint[], opts: SparseFitOptions = {}): Promise<FitResult> {
  const t0 = performance.now();
  const level = opts.ciLevel ?? 0.95;
  points.forEach((q, i) => {
    if (!(q.S >= 0 && q.S < 1)) throw new Error(`sparse-chinchilla point ${i}: S must be in [0, 1), got ${q.S}`);
    for (const k of ['N', 'D', 'L'] as const) if (!(q[k] > 0) || !Number.isFinite(q[k])) throw new Error(`sparse-chinchilla point ${i}: ${k} must be a positive number, got ${q[k]}`);
  });
  const starts = opts.startPoints ?? sparseStarts(opts.starts ?? 300, opts.seed ?? 0);
  const bounds: FitResult['bounds'] = Object.fromEntries(SPARSE_NAMES.map((k) => [k, [null, null] as [null, null]]));
  const base = { law: 'sparse-chinchilla' as const, formula: SPARSE_FORMULA, ciLevel: level, bounds, n: points.length, starts: starts.length };
  const seconds = () => (performance.now() - t0) / 1000;
  const nS = new Set(points.map((q) => q.S)).size, nN = new Set(points.map((q) => q.N)).size, nD = new Set(points.map((q) => q.D)).size;
  if (points.length <= 7) return failedFit(base, SPARSE_NAMES, `sparse-chinchilla has 7 parameters and needs more than 7 points; got ${points.length}`, seconds());
  if (nS < 2) return failedFit(base, SPARSE_NAMES, `sparse-chinchilla needs at least 2 distinct sparsities S; got ${nS} (fit chinchilla instead)`, seconds());
  if (nN < 3 || nD < 3) return failedFit(base, SPARSE_NAMES, `sparse-chinchilla needs at least 3 distinct N and 3 distinct D; got ${nN} and ${nD}`, seconds());
  const best = fitSparseFrom(points, starts);
  if (!Number.isFinite(best.f)) return failedFit(base, SPARSE_NAMES, 'no start reached a finite objective', seconds(), best.message);
  const params = Object.fromEntries(SPARSE_NAMES.map((k, j) => [k, best.x[j]]));
  const ys = points.map((q) => q.L);
  const pred = points.map((q) => sparseLoss(best.x, q.S, q.N, q.D));
  const metrics = errorMetrics(ys, pred, 7);
  let ci: Record<string, [number, number]> = Object.fromEntries(SPARSE_NAMES.map((k) => [k, [NaN, NaN] as [number, number]]));
  let ciMethod: FitResult['ciMethod'] = 'none';
  let bootstrap: FitResult['bootstrap'];
  let covariance: number[][] | undefined;
  const flags: Record<string, ParamFlag> = {};
  const B = Math.max(0, Math.floor(opts.bootstrap ?? 0));
  if (B > 0) {
    const seed = opts.seed ?? 1;
    const bStarts = [best.x, ...sparseStarts(10, seed + 1)];
    const reps: number[][] = [];
    for (let r = 0; r < B; r++) {
      const idx = resampleIndices(points.length, seed, r);
      const fit = fitSparseFrom(Array.from(idx, (i) => points[i]), bStarts);
      if (fit.x.every(Number.isFinite)) reps.push(fit.x);
    }
    ci = percentileCi(SPARSE_NAMES, reps, level);
    ciMethod = 'bootstrap';
    bootstrap = { requested: B, succeeded: reps.length, seed, unit: 'points' };
    covariance = sampleCovariance(reps, 7);
    for (const k of SPARSE_NAMES) {
      const [lo, hi] = ci[k];
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) flags[k] = 'not-identified';
      else if ((k === 'b' || k === 'd' || k === 'f') && lo <= 0 && hi >= 0) flags[k] = 'not-identified';
      else if (hi - lo > 1e3 * Math.abs(params[k])) flags[k] = 'not-identified';
    }
  }
  let verdict = classifyFit({ law: 'sparse-chinchilla', params, bounds, flags, r2: metrics.r2, predictedSpread: predictedSpread(ys, pred) });
  if (verdict.status === 'ok' && params.d <= 1e-3) verdict = { status: 'degenerate', reason: 'd ≤ 1e-3: the N term is a constant' };
  return {
    ...base, params, ci, ciMethod, flags, ...metrics, objective: best.f, status: verdict.status, reason: verdict.reason,
    converged: best.converged, iterations: best.iterations, message: `${best.message} (best of ${starts.length} L-BFGS starts: start #${best.index})`,
    ...(bootstrap ? { bootstrap } : {}), ...(covariance ? { covariance } : {}), seconds: seconds(),
  };
}

/** Predicts L at (S, N, D) from a sparse-chinchilla FitResult. */
export function predictSparse(r: FitResult, S: number, N: number, D: number): number {
  if (r.law !== 'sparse-chinchilla') throw new Error(`expected a sparse-chinchilla fit, got ${r.law}`);
  return sparseLoss(SPARSE_NAMES.map((k) => r.params[k]), S, N, D);
}

/**
 * The T5 preset of Frantar et al.'s notebook (google-research/jaxpruner, projects/bigsparse): from
 * the raw columns `sparsity`, `scale`, `steps`, `val-loss`, S = sparsity,
 * N = 24·12·768²·scale·(1−S)/1e6 (non-zero parameters in millions), D = steps/1e5.
 */
export function frantarT5Point(row: { sparsity: number; scale: number; steps: number; loss: number }): SparsePoint {
  return { S: row.sparsity, N: (24 * 12 * 768 * 768 * row.scale * (1 - row.sparsity)) / 1e6, D: row.steps / 1e5, L: row.loss };
}
