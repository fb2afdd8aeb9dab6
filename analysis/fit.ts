/**
 * Public fitting API: one call per law returns a scipy-like FitResult with parameters,
 * confidence intervals (bootstrap or asymptotic), identification flags, error figures and a
 * status that says what the fit is (analysis/verdict.ts): `ok`, `not-identified`, `degenerate`
 * or `failed`, with the reason.
 */
import {
  chinchillaData, epochGrid, fitOneAxis, HOFFMANN_RAW, huberObjective, oneAxisGrid, predictLoss, rawToParams, computeOptimal,
  type ChinchillaData, type ChinchillaPoint, type ChinchillaParams,
} from './chinchilla';
import { curveModel, fitCurveCore, lawBounds } from './curve';
import { LAWS, type CurveLawName, type LawName } from './laws';
import { psdPseudoInverse, spdInverse } from './linalg';
import { defaultWorkers, runTasks } from './parallel';
import { errorMetrics, quantile, resampleIndices, tQuantile } from './stats';
import { runTask, type ChinchillaGridResult, type WorkerTask } from './tasks';
import { classifyFit, curvePrecondition, type FitStatus } from './verdict';

export type ParamFlag = 'at-bound' | 'not-identified';
export type { FitStatus } from './verdict';

export interface FitResult {
  law: LawName;
  formula: string;
  /** fitted parameters by name (width-depth also reports the derived `plateau`); NaN where not identified at all */
  params: Record<string, number>;
  /** two-sided interval at `ciLevel`; [NaN, NaN] (null in JSON) when it could not be computed */
  ci: Record<string, [number, number]>;
  ciMethod: 'bootstrap' | 'asymptotic' | 'none';
  ciLevel: number;
  /**
   * Per parameter: 'not-identified': the interval reaches a bound of the parameter, is unbounded
   * or could not be computed, or the design cannot separate it (e.g. E, A, α with one model size).
   * 'at-bound': the estimate sits on a bound while its interval does not reach it (rare).
   * Unflagged parameters are absent. Any flag makes the status at least `not-identified`.
   */
  flags: Record<string, ParamFlag>;
  /** bounds used; null where unbounded */
  bounds: Record<string, [number | null, number | null]>;
  mae: number;
  mse: number;
  r2: number;
  aic: number;
  bic: number;
  n: number;
  /** minimised value: 0.5·Σ r² (scipy's least_squares `cost`) for curve laws; the summed Huber loss for chinchilla; the mean Huber loss for sparse-chinchilla */
  objective: number;
  /** what the fit is: see analysis/verdict.ts. Only `ok` fits may be shown as known curves. */
  status: FitStatus;
  /** why the status is not `ok`, in words; null when ok */
  reason: string | null;
  /** whether the optimizer's winning run met its convergence test */
  converged: boolean;
  /** iterations of the optimizer's winning run (LM or L-BFGS) */
  iterations: number;
  /** the optimizer's own termination message, with the winning start */
  message: string;
  /** number of starting points considered */
  starts: number;
  bootstrap?: { requested: number; succeeded: number; seed: number; unit: 'points' | 'clusters' };
  seconds: number;
  /**
   * covariance of the fitted parameters (order of the law's parameter list): from the bootstrap
   * replicates when bootstrapped, else s²(JᵀJ)⁻¹; absent when singular. Used for prediction bands.
   */
  covariance?: number[][];
  /** chinchilla only: the raw vector [a, b, e, alpha, beta] with A = e^a, B = e^b, E = e^e */
  raw?: number[];
  /** chinchilla only: points dropped before fitting (highest losses) */
  dropped?: number;
}

export interface FitOptions {
  /** bootstrap replicates for the CIs (0 = asymptotic CIs from the Jacobian). Default 0. */
  bootstrap?: number;
  /** confidence level, default 0.95 */
  ciLevel?: number;
  /** worker threads for the bootstrap / start grid (default: available cores) */
  workers?: number;
  /** seed of the bootstrap resampling (deterministic for a given seed), default 1 */
  seed?: number;
}

const boundOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);
const nanCi = (names: readonly string[]) => Object.fromEntries(names.map((k) => [k, [NaN, NaN] as [number, number]]));

function flagParams(
  names: readonly string[], p: ArrayLike<number>, ci: Record<string, [number, number]>, lower: readonly number[], upper: readonly number[],
): Record<string, ParamFlag> {
  const flags: Record<string, ParamFlag> = {};
  names.forEach((k, j) => {
    const [lo, hi] = ci[k];
    const tolLo = 1e-9 * Math.max(1, Math.abs(lower[j])), tolHi = 1e-9 * Math.max(1, Math.abs(upper[j]));
    const reaches = (Number.isFinite(lower[j]) && lo <= lower[j] + tolLo) || (Number.isFinite(upper[j]) && hi >= upper[j] - tolHi);
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || reaches) flags[k] = 'not-identified';
    else if (p[j] <= lower[j] || p[j] >= upper[j]) flags[k] = 'at-bound';
  });
  return flags;
}

/** s²(JᵀJ)⁻¹ at p, or null when JᵀJ is singular. */
function asymptoticCovariance(lawName: CurveLawName, x: number[], y: number[], p: number[], cost: number): number[][] | null {
  const law = LAWS[lawName];
  const m = p.length, n = x.length;
  const J = new Float64Array(n * m), r = new Float64Array(n);
  curveModel(law, x, y).evaluate(p, r, J);
  const H = new Float64Array(m * m);
  for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) H[a * m + b] += J[i * m + a] * J[i * m + b];
  const dof = n - m;
  if (dof <= 0) return null;
  // Singular JᵀJ (redundant parameters, e.g. b and d of the sigmoid): pseudo-inverse, with NaN
  // variance for the parameters that lie along the null space and are therefore not identified.
  const inv = spdInverse(H, m) ?? psdPseudoInverse(H, m, 1e-12).inv;
  const s2 = (2 * cost) / dof;
  return Array.from({ length: m }, (_, a) => Array.from({ length: m }, (_, b) => s2 * inv[a * m + b]));
}

export function sampleCovariance(reps: number[][], m: number): number[][] | undefined {
  if (reps.length < 2) return undefined;
  const mean = Array.from({ length: m }, (_, j) => reps.reduce((s, r) => s + r[j], 0) / reps.length);
  return Array.from({ length: m }, (_, a) => Array.from({ length: m }, (_, b) => reps.reduce((s, r) => s + (r[a] - mean[a]) * (r[b] - mean[b]), 0) / (reps.length - 1)));
}

/** Asymptotic interval p ± t·σ from s²(JᵀJ)⁻¹, clipped to the bounds. */
function asymptoticCi(lawName: CurveLawName, x: number[], y: number[], p: number[], cost: number, level: number, lower: number[], upper: number[]): Record<string, [number, number]> {
  const law = LAWS[lawName];
  const cov = asymptoticCovariance(lawName, x, y, p, cost);
  const ci: Record<string, [number, number]> = {};
  const t = tQuantile(0.5 + level / 2, Math.max(x.length - p.length, 1));
  law.params.forEach((k, j) => {
    if (!cov || !(cov[j][j] >= 0)) { ci[k] = [NaN, NaN]; return; }
    const h = t * Math.sqrt(cov[j][j]);
    ci[k] = [Math.max(lower[j], p[j] - h), Math.min(upper[j], p[j] + h)];
  });
  return ci;
}

export function percentileCi(names: readonly string[], reps: number[][], level: number): Record<string, [number, number]> {
  const ci: Record<string, [number, number]> = {};
  names.forEach((k, j) => {
    const v = reps.map((r) => r[j]);
    ci[k] = [quantile(v, (1 - level) / 2), quantile(v, (1 + level) / 2)];
  });
  return ci;
}

export function splitRange(total: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const size = Math.ceil(total / Math.max(1, parts));
  for (let s = 0; s < total; s += size) out.push([s, Math.min(total, s + size)]);
  return out;
}

/** Spread (standard deviation) of the fitted values relative to that of the data. */
export function predictedSpread(y: ArrayLike<number>, pred: ArrayLike<number>): number {
  const sd = (v: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < v.length; i++) m += v[i];
    m /= v.length;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
    return Math.sqrt(s / v.length);
  };
  const sy = sd(y);
  return sy > 0 ? sd(pred) / sy : NaN;
}

/**
 * When more than 5% of the bootstrap resamples could not be fitted (too few distinct points to
 * identify the law), the interval from the rest is not trustworthy: returns the reason, else null.
 */
export function failedShare(b: { requested: number; succeeded: number }): string | null {
  const failed = b.requested - b.succeeded;
  if (failed <= 0.05 * b.requested) return null;
  return `${failed} of ${b.requested} bootstrap resamples had too few distinct points to fit the law: the data cannot pin the parameters down`;
}

/** A result for a fit that could not be made: every figure NaN, status `failed`, the reason given. */
export function failedFit(
  base: Pick<FitResult, 'law' | 'formula' | 'ciLevel' | 'bounds' | 'n' | 'starts'>, names: readonly string[], reason: string, seconds: number, message = 'not attempted',
): FitResult {
  return {
    ...base, params: Object.fromEntries(names.map((k) => [k, NaN])), ci: nanCi(names), ciMethod: 'none', flags: {},
    mae: NaN, mse: NaN, r2: NaN, aic: NaN, bic: NaN, objective: NaN, status: 'failed', reason, converged: false, iterations: 0, message, seconds,
  };
}

function validateXY(lawName: LawName, x: readonly number[], y: readonly number[]): void {
  if (x.length !== y.length) throw new Error(`x and y differ in length (${x.length} vs ${y.length})`);
  x.forEach((v, i) => { if (!Number.isFinite(v)) throw new Error(`x[${i}] is not a finite number: ${v}`); });
  y.forEach((v, i) => { if (!Number.isFinite(v)) throw new Error(`y[${i}] is not a finite number: ${v}`); });
  if (lawName !== 'chinchilla' && lawName !== 'sparse-chinchilla' && LAWS[lawName].xDomain === 'positive') {
    const i = x.findIndex((v) => !(v > 0));
    if (i >= 0) throw new Error(`law ${lawName} needs x > 0, but x[${i}] = ${x[i]}`);
  }
}

/** Fits a one-variable law to (x, y). Bootstrap replicates resample points (rows). */
export async function fitCurve(lawName: CurveLawName, x: readonly number[], y: readonly number[], opts: FitOptions = {}): Promise<FitResult> {
  const t0 = performance.now();
  const law = LAWS[lawName];
  validateXY(lawName, x, y);
  const m = law.params.length;
  const level = opts.ciLevel ?? 0.95;
  const seed = opts.seed ?? 1;
  const xs = [...x], ys = [...y];
  const { lower, upper } = lawBounds(law, xs);
  const bounds: FitResult['bounds'] = {};
  law.params.forEach((k, j) => { bounds[k] = [boundOrNull(lower[j]), boundOrNull(upper[j])]; });
  const base = { law: lawName, formula: law.formula, ciLevel: level, bounds, n: xs.length, starts: 0 } as const;
  const pre = curvePrecondition(lawName, m, xs, law.xDomain === 'positive');
  if (pre) return failedFit(base, law.params, pre, (performance.now() - t0) / 1000);
  const core = fitCurveCore(lawName, xs, ys);
  const ok = Number.isFinite(core.cost);
  let covariance: number[][] | undefined = ok ? asymptoticCovariance(lawName, xs, ys, core.p, core.cost) ?? undefined : undefined;
  const pred = xs.map((v) => law.value(v, core.p));
  const metrics = errorMetrics(ys, pred, m);
  let ci: Record<string, [number, number]>;
  let ciMethod: FitResult['ciMethod'] = 'asymptotic';
  let bootstrap: FitResult['bootstrap'];
  let reps: number[][] = [];
  const B = Math.max(0, Math.floor(opts.bootstrap ?? 0));
  if (ok && B > 0) {
    const starts = [core.p, ...core.topStarts];
    const workers = opts.workers ?? defaultWorkers();
    const chunks = splitRange(B, Math.max(1, Math.min(workers * 4, Math.ceil(B / 25))));
    const tasks: WorkerTask[] = chunks.map(([from, to]) => ({ kind: 'curve-bootstrap', law: lawName, x: xs, y: ys, starts, seed, from, to }));
    const parts = await runTasks<number[][]>(tasks, workers, (t) => runTask(t) as number[][]);
    reps = parts.flat().filter((r) => r.every((v) => Number.isFinite(v)));
    ci = percentileCi(law.params, reps, level);
    ciMethod = 'bootstrap';
    bootstrap = { requested: B, succeeded: reps.length, seed, unit: 'points' };
    covariance = sampleCovariance(reps, m) ?? covariance;
  } else {
    ci = ok ? asymptoticCi(lawName, xs, ys, core.p, core.cost, level, lower, upper) : nanCi(law.params);
    if (!ok) ciMethod = 'none';
  }
  const params: Record<string, number> = Object.fromEntries(law.params.map((k, j) => [k, core.p[j]]));
  const flags = ok ? flagParams(law.params, core.p, ci, lower, upper) : {};
  const bootFail = bootstrap ? failedShare(bootstrap) : null;
  if (bootFail) for (const k of law.params) flags[k] = 'not-identified';
  if (law.derived && ok) {
    for (const [k, v] of Object.entries(law.derived(core.p))) {
      params[k] = v;
      if (reps.length > 0) {
        const dv = reps.map((r) => law.derived!(r)[k]);
        ci[k] = [quantile(dv, (1 - level) / 2), quantile(dv, (1 + level) / 2)];
      } else ci[k] = [NaN, NaN];
    }
  }
  let verdict = classifyFit({
    law: lawName, params, bounds, flags, r2: metrics.r2, predictedSpread: ok ? predictedSpread(ys, pred) : undefined,
    failure: ok ? null : `the optimizer found no finite fit (${core.message})`,
  });
  if (bootFail && verdict.status === 'not-identified') verdict = { status: verdict.status, reason: bootFail };
  return {
    ...base, params, ci, ciMethod, flags, ...metrics, objective: core.cost,
    status: verdict.status, reason: verdict.reason, converged: core.converged, iterations: core.iterations, message: core.message, starts: core.starts,
    ...(bootstrap ? { bootstrap } : {}), ...(covariance ? { covariance } : {}), seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Fitted curve with a pointwise band at the fit's CI level (delta method with the parameter
 * covariance): [{x, y, lo, hi}]. Without a covariance, or for a fit whose status is not `ok`
 * (no band may pretend to be an interval then), lo = hi = NaN.
 */
export function predictBand(r: FitResult, xs: readonly number[]): Array<{ x: number; y: number; lo: number; hi: number }> {
  if (r.law === 'chinchilla' || r.law === 'sparse-chinchilla') throw new Error('predictBand is for curve laws; use predictLoss for chinchilla');
  const law = LAWS[r.law];
  const p = law.params.map((k) => r.params[k]);
  const m = p.length;
  const g = new Float64Array(m);
  const z = tQuantile(0.5 + r.ciLevel / 2, Math.max(1, r.n - m));
  return xs.map((x) => {
    const y = law.value(x, p);
    if (!r.covariance || r.status !== 'ok') return { x, y, lo: NaN, hi: NaN };
    law.gradient(x, p, g, 0);
    let v = 0;
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) v += g[a] * r.covariance[a][b] * g[b];
    const h = z * Math.sqrt(Math.max(0, v));
    return Number.isFinite(h) ? { x, y, lo: y - h, hi: y + h } : { x, y, lo: NaN, hi: NaN };
  });
}

export interface ChinchillaOptions extends FitOptions {
  /** starting points [a, b, e, alpha, beta]; default Epoch's 4,500-point grid */
  starts?: number[][];
  /** starts for each bootstrap refit besides the full-data optimum and Hoffmann et al.'s fit: every k-th grid point (default 500 → 9 starts) */
  bootstrapGridStride?: number;
  /**
   * starts for each bootstrap refit, replacing the default (the optimum, Hoffmann's fit and every k-th grid point).
   * Epoch's procedure: [HOFFMANN_RAW] (one BFGS from Hoffmann et al.'s published fit).
   */
  bootstrapStarts?: number[][];
  /**
   * cluster id of every point (e.g. the run it comes from): bootstrap replicates then resample
   * whole clusters, since points of one run share its noise. Default: points are independent.
   */
  clusters?: number[];
}

const CHIN_NAMES = ['E', 'A', 'B', 'alpha', 'beta'] as const;
const CHIN_FORMULA = 'L(N,D) = E + A/N^alpha + B/D^beta';
function chinNamed(raw: ArrayLike<number>): number[] {
  const p = rawToParams(raw);
  return [p.E, p.A, p.B, p.alpha, p.beta];
}

/**
 * Chinchilla parameters whose bootstrap interval leaves what the data can say: for E, A, B (> 0)
 * an interval whose ends differ by more than a factor 1e4 or whose lower end is below 1e-6 of the
 * estimate (indistinguishable from 0); for α, β an interval reaching 0.005 (the term is then
 * indistinguishable from a constant folded into E) or 5 (a step); any non-finite end.
 */
function chinchillaCiFlags(params: Record<string, number>, ci: Record<string, [number, number]>): Record<string, ParamFlag> {
  const flags: Record<string, ParamFlag> = {};
  for (const k of CHIN_NAMES) {
    const [lo, hi] = ci[k];
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) { flags[k] = 'not-identified'; continue; }
    if (k === 'alpha' || k === 'beta') { if (lo <= 0.005 || hi >= 5) flags[k] = 'not-identified'; }
    else if (lo < 1e-6 * params[k] || hi > 1e4 * Math.max(lo, 1e-300)) flags[k] = 'not-identified';
  }
  return flags;
}

/**
 * Fits Chinchilla L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2; Huber δ = 1e-3 on
 * ln L, L-BFGS from Epoch's start grid).
 *
 * Preconditions: more points than the 5 parameters; at least 2 distinct N and 2 distinct D.
 * With one distinct N only L = K + B/D^β is identified: that sub-model is fitted, B and β are
 * reported, K = E + A/N^α is reported as `K`, and E, A, α are NaN and flagged not-identified
 * (status `not-identified`); symmetrically with one distinct D (K = E + B/D^β). With two distinct
 * N (or D) the full law is fitted but E, A, α (or E, B, β) are flagged: two sizes give two values
 * of E + A/N^α, fewer than its three parameters.
 */
export async function fitChinchilla(points: readonly ChinchillaPoint[], opts: ChinchillaOptions = {}): Promise<FitResult> {
  const t0 = performance.now();
  const level = opts.ciLevel ?? 0.95;
  const seed = opts.seed ?? 1;
  points.forEach((p, i) => {
    for (const k of ['N', 'D', 'L'] as const) {
      if (!(p[k] > 0) || !Number.isFinite(p[k])) throw new Error(`chinchilla point ${i}: ${k} must be a positive number, got ${p[k]}`);
    }
  });
  if (opts.clusters && opts.clusters.length !== points.length) throw new Error(`clusters has ${opts.clusters.length} entries for ${points.length} points`);
  const grid: number[][] = opts.starts ?? epochGrid();
  const bounds: FitResult['bounds'] = Object.fromEntries(CHIN_NAMES.map((k) => [k, [0, null] as [number, null]]));
  bounds.alpha = [null, null]; bounds.beta = [null, null];
  const base = { law: 'chinchilla' as const, formula: CHIN_FORMULA, ciLevel: level, bounds, n: points.length, starts: grid.length };
  const seconds = () => (performance.now() - t0) / 1000;
  const nN = new Set(points.map((p) => p.N)).size, nD = new Set(points.map((p) => p.D)).size;
  if (points.length <= 5) return failedFit(base, CHIN_NAMES, `chinchilla has 5 parameters and needs more than 5 points; got ${points.length}`, seconds());
  if (nN < 2 && nD < 2) return failedFit(base, CHIN_NAMES, `all points share one N and one D: nothing to fit`, seconds());
  if (nN < 2 || nD < 2) return fitChinchillaOneAxis(points, nN < 2 ? 'D' : 'N', opts, base, t0);

  const data: ChinchillaData = chinchillaData(points);
  const workers = opts.workers ?? defaultWorkers();
  const chunks = splitRange(grid.length, Math.min(workers * 8, grid.length));
  const tasks: WorkerTask[] = chunks.map(([from, to]) => ({ kind: 'chinchilla-grid', data, starts: grid.slice(from, to), offset: from }));
  const parts = await runTasks<ChinchillaGridResult>(tasks, workers, (t) => runTask(t) as ChinchillaGridResult);
  let best: ChinchillaGridResult | null = null;
  for (const r of parts) if (Number.isFinite(r.f) && (!best || r.f < best.f || (r.f === best.f && r.index < best.index))) best = r;
  if (!best) return failedFit(base, CHIN_NAMES, 'no start reached a finite objective', seconds(), 'no start reached a finite objective');
  const named = chinNamed(best.x);
  const params = Object.fromEntries(CHIN_NAMES.map((k, j) => [k, named[j]]));
  const pp = rawToParams(best.x);
  const pred = points.map((p) => predictLoss(pp, p.N, p.D));
  const ys = points.map((p) => p.L);
  const metrics = errorMetrics(ys, pred, 5);
  let ci: Record<string, [number, number]> = nanCi(CHIN_NAMES);
  let ciMethod: FitResult['ciMethod'] = 'none';
  let bootstrap: FitResult['bootstrap'];
  let covariance: number[][] | undefined;
  const B = Math.max(0, Math.floor(opts.bootstrap ?? 0));
  if (B > 0) {
    const stride = Math.max(1, opts.bootstrapGridStride ?? 500);
    const bStarts = opts.bootstrapStarts ?? [best.x, [...HOFFMANN_RAW], ...grid.filter((_, i) => i % stride === 0)];
    const bChunks = splitRange(B, Math.min(workers * 4, B));
    const bTasks: WorkerTask[] = bChunks.map(([from, to]) => ({ kind: 'chinchilla-bootstrap', data, starts: bStarts, seed, from, to, ...(opts.clusters ? { clusters: [...opts.clusters] } : {}) }));
    const bParts = await runTasks<number[][]>(bTasks, workers, (t) => runTask(t) as number[][]);
    const reps = bParts.flat().filter((r) => r.every((v) => Number.isFinite(v))).map(chinNamed);
    ci = percentileCi(CHIN_NAMES, reps, level);
    ciMethod = 'bootstrap';
    bootstrap = { requested: B, succeeded: reps.length, seed, unit: opts.clusters ? 'clusters' : 'points' };
    covariance = sampleCovariance(reps, 5);
  }
  const flags: Record<string, ParamFlag> = ciMethod === 'bootstrap' ? chinchillaCiFlags(params, ci) : {};
  const design: string[] = [];
  const bootFail = bootstrap ? failedShare(bootstrap) : null;
  if (bootFail) { for (const k of CHIN_NAMES) flags[k] = 'not-identified'; design.push(bootFail); }
  if (nN === 2) { for (const k of ['E', 'A', 'alpha']) flags[k] = 'not-identified'; design.push('two model sizes give two values of E + A/N^α, fewer than its three parameters'); }
  if (nD === 2) { for (const k of ['E', 'B', 'beta']) flags[k] = 'not-identified'; design.push('two token counts give two values of E + B/D^β, fewer than its three parameters'); }
  const collapse: string[] = [];
  if (params.alpha <= 1e-3) collapse.push('α ≤ 1e-3: A/N^α is a constant, the N term is switched off');
  if (params.beta <= 1e-3) collapse.push('β ≤ 1e-3: B/D^β is a constant, the D term is switched off');
  let verdict = classifyFit({ law: 'chinchilla', params, bounds, flags, r2: metrics.r2, predictedSpread: predictedSpread(ys, pred) });
  if (collapse.length > 0) verdict = { status: 'degenerate', reason: [...collapse, ...(verdict.status === 'degenerate' && verdict.reason ? [verdict.reason] : [])].join('; ') };
  else if (verdict.status === 'not-identified' && design.length > 0) verdict = { status: verdict.status, reason: `${design.join('; ')}; ${verdict.reason}` };
  return {
    ...base, params, ci, ciMethod, flags, ...metrics, objective: huberObjective(best.x, data, null),
    status: verdict.status, reason: verdict.reason, converged: best.converged, iterations: best.iterations,
    message: `${best.message} (best of ${grid.length} L-BFGS starts: start #${best.index})`, ...(bootstrap ? { bootstrap } : {}),
    ...(covariance ? { covariance } : {}), seconds: seconds(), raw: [...best.x],
  };
}

/** The identified sub-model L = K + C/X^γ when only X (N or D) varies; see fitChinchilla. */
async function fitChinchillaOneAxis(
  points: readonly ChinchillaPoint[], axis: 'N' | 'D', opts: ChinchillaOptions,
  base: Pick<FitResult, 'law' | 'formula' | 'ciLevel' | 'bounds' | 'n' | 'starts'>, t0: number,
): Promise<FitResult> {
  const seconds = () => (performance.now() - t0) / 1000;
  const fixed = axis === 'D' ? 'N' : 'D';
  const fixedValue = points[0][fixed];
  const [coef, expo, lost] = axis === 'D' ? ['B', 'beta', ['E', 'A', 'alpha']] as const : ['A', 'alpha', ['E', 'B', 'beta']] as const;
  const kName = 'K';
  const kMeaning = axis === 'D' ? `E + A/N^alpha at N = ${fixedValue}` : `E + B/D^beta at D = ${fixedValue}`;
  const names = [...CHIN_NAMES, kName];
  const distinct = new Set(points.map((p) => p[axis])).size;
  const oneBase = { ...base, starts: oneAxisGrid().length, bounds: { ...base.bounds, K: [0, null] as [number, null] } };
  if (distinct < 3) return failedFit(oneBase, names, `one ${fixed} (${fixed} = ${fixedValue}) and only ${distinct} distinct ${axis}: the sub-model K + ${coef}/${axis}^${expo} has 3 parameters`, seconds());
  const lnX = Float64Array.from(points, (p) => Math.log(p[axis]));
  const lnL = Float64Array.from(points, (p) => Math.log(p.L));
  const grid = oneAxisGrid();
  const best = fitOneAxis(lnX, lnL, grid);
  if (!Number.isFinite(best.f)) return failedFit(oneBase, names, 'no start reached a finite objective', seconds(), best.message);
  const named = (x: ArrayLike<number>) => [Math.exp(x[0]), x[2], Math.exp(x[1])]; // [coef, expo, K]
  const [cv, ev, kv] = named(best.x);
  const params: Record<string, number> = { E: NaN, A: NaN, B: NaN, alpha: NaN, beta: NaN, K: kv };
  params[coef] = cv; params[expo] = ev;
  const ys = points.map((p) => p.L);
  const pred = points.map((p) => kv + cv / Math.pow(p[axis], ev));
  const metrics = errorMetrics(ys, pred, 3);
  const ci: Record<string, [number, number]> = nanCi(names);
  let ciMethod: FitResult['ciMethod'] = 'none';
  let bootstrap: FitResult['bootstrap'];
  const B = Math.max(0, Math.floor(opts.bootstrap ?? 0));
  const flags: Record<string, ParamFlag> = Object.fromEntries(lost.map((k) => [k, 'not-identified' as const]));
  if (B > 0) {
    const seed = opts.seed ?? 1;
    const starts = [best.x, ...grid.filter((_, i) => i % 10 === 0)];
    const reps: number[][] = [];
    for (let b = 0; b < B; b++) {
      const idx = resampleIndices(points.length, seed, b);
      if (new Set(Array.from(idx, (i) => lnX[i])).size < 3) continue;
      const r = fitOneAxis(Float64Array.from(idx, (i) => lnX[i]), Float64Array.from(idx, (i) => lnL[i]), starts);
      if (Number.isFinite(r.f)) reps.push(named(r.x));
    }
    const pc = percentileCi([coef, expo, kName], reps, base.ciLevel);
    Object.assign(ci, pc);
    ciMethod = 'bootstrap';
    bootstrap = { requested: B, succeeded: reps.length, seed, unit: 'points' };
    const ciParams = { [coef]: cv, [expo]: ev };
    const f2 = chinchillaCiFlags({ ...params, ...ciParams }, { ...nanCi(CHIN_NAMES), [coef]: pc[coef], [expo]: pc[expo] });
    for (const k of [coef, expo]) if (f2[k]) flags[k] = f2[k];
    if (failedShare(bootstrap)) { flags[coef] = 'not-identified'; flags[expo] = 'not-identified'; }
  }
  const bootFail = bootstrap ? failedShare(bootstrap) : null;
  const reason = `one ${fixed === 'N' ? 'model size' : 'token count'} (${fixed} = ${fixedValue}): only K = ${kMeaning}, ${coef} and ${expo} are identified; ${lost.join(', ')} are not identified${bootFail ? `; ${bootFail}` : ''}`;
  const verdict = classifyFit({ law: 'chinchilla', params, bounds: oneBase.bounds, flags: {}, r2: metrics.r2, predictedSpread: predictedSpread(ys, pred) });
  const status: FitStatus = verdict.status === 'degenerate' ? 'degenerate' : 'not-identified';
  return {
    ...oneBase, formula: `${CHIN_FORMULA}; fitted as L = K + ${coef}/${axis}^${expo} (one ${fixed})`, params, ci, ciMethod, flags, ...metrics,
    objective: best.f, status, reason: verdict.status === 'degenerate' ? `${verdict.reason}; ${reason}` : reason,
    converged: best.converged, iterations: best.iterations, message: best.message, ...(bootstrap ? { bootstrap } : {}), seconds: seconds(),
  };
}

export function chinchillaParams(r: FitResult): ChinchillaParams {
  if (r.law !== 'chinchilla') throw new Error(`expected a chinchilla fit, got ${r.law}`);
  return { E: r.params.E, A: r.params.A, B: r.params.B, alpha: r.params.alpha, beta: r.params.beta };
}

/** Compute-optimal N and D (and the predicted loss) for FLOP budgets C = 6·N·D under a Chinchilla fit. */
export function chinchillaComputeOptimal(r: FitResult, budgets: readonly number[]): Array<{ C: number; N: number; D: number; loss: number }> {
  const p = chinchillaParams(r);
  return budgets.map((C) => ({ C, ...computeOptimal(p, C) }));
}

export type FitInput =
  | { law: CurveLawName; x: readonly number[]; y: readonly number[] }
  | { law: 'chinchilla'; points: readonly ChinchillaPoint[] };

/** One entry for every law. */
export function fitPoints(input: FitInput, opts: ChinchillaOptions = {}): Promise<FitResult> {
  return input.law === 'chinchilla' ? fitChinchilla(input.points, opts) : fitCurve(input.law, input.x, input.y, opts);
}

export interface OutOfSampleResult {
  fit: FitResult;
  trainN: number;
  testN: number;
  /** errors on the held-out points */
  mae: number;
  mse: number;
  rmse: number;
  maxAbs: number;
  /** relative errors |pred − y| / |y| averaged over held-out points */
  mape: number;
  predictions: Array<{ x: number; y: number; predicted: number }>;
}

function heldOutErrors(pairs: Array<{ y: number; predicted: number }>) {
  const n = pairs.length;
  let sae = 0, sse = 0, mx = 0, sre = 0;
  for (const { y, predicted } of pairs) {
    const e = Math.abs(predicted - y);
    sae += e; sse += e * e; mx = Math.max(mx, e); sre += e / Math.abs(y);
  }
  return { mae: sae / n, mse: sse / n, rmse: Math.sqrt(sse / n), maxAbs: mx, mape: sre / n };
}

/**
 * Out-of-sample check for a curve: fit on the points with the smallest x (the first
 * `trainFraction` of the curve, default 0.5), predict the rest.
 */
export async function outOfSampleCurve(lawName: CurveLawName, x: readonly number[], y: readonly number[], opts: FitOptions & { trainFraction?: number } = {}): Promise<OutOfSampleResult> {
  const order = x.map((_, i) => i).sort((a, b) => x[a] - x[b]);
  const k = Math.max(1, Math.min(order.length - 1, Math.round((opts.trainFraction ?? 0.5) * order.length)));
  const tr = order.slice(0, k), te = order.slice(k);
  const fit = await fitCurve(lawName, tr.map((i) => x[i]), tr.map((i) => y[i]), opts);
  const law = LAWS[lawName];
  const p = law.params.map((n) => fit.params[n]);
  const predictions = te.map((i) => ({ x: x[i], y: y[i], predicted: law.value(x[i], p) }));
  return { fit, trainN: tr.length, testN: te.length, ...heldOutErrors(predictions), predictions };
}

/**
 * Out-of-sample check for Chinchilla: fit on models with N ≤ maxTrainN (default: the smaller
 * half of the distinct model sizes), predict the losses of the larger ones.
 */
export async function outOfSampleChinchilla(points: readonly ChinchillaPoint[], opts: ChinchillaOptions & { maxTrainN?: number } = {}): Promise<OutOfSampleResult> {
  const sizes = [...new Set(points.map((p) => p.N))].sort((a, b) => a - b);
  const cut = opts.maxTrainN ?? sizes[Math.max(0, Math.floor(sizes.length / 2) - 1)];
  const tr = points.filter((p) => p.N <= cut), te = points.filter((p) => p.N > cut);
  if (te.length === 0) throw new Error(`no held-out points: every model has N ≤ ${cut}`);
  const fit = await fitChinchilla(tr, opts);
  const p = chinchillaParams(fit);
  const predictions = te.map((q) => ({ x: q.N, y: q.L, predicted: predictLoss(p, q.N, q.D) }));
  return { fit, trainN: tr.length, testN: te.length, ...heldOutErrors(predictions), predictions };
}

