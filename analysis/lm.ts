/**
 * Bounded Levenberg–Marquardt (projected, with an active set) for small least-squares problems.
 *
 * Each iteration fixes the parameters that sit on a bound with the gradient pushing outward,
 * solves the damped normal equations (JᵀJ + λ·diag)δ = −Jᵀr for the rest (Marquardt's scaling,
 * so parameters of very different magnitudes are handled), projects the step onto the box and
 * accepts it when the cost falls. Damping follows Nielsen's rule.
 */
import { cholesky, choleskySolve } from './linalg';

export interface ResidualModel {
  /** number of residuals */
  n: number;
  /** number of parameters */
  m: number;
  /**
   * Writes residuals r_i = f(x_i; p) − y_i into r and, when J is given, the Jacobian ∂r_i/∂p_j
   * into J (row-major n×m).
   */
  evaluate(p: ArrayLike<number>, r: Float64Array, J: Float64Array | null): void;
}

export interface LmOptions {
  maxIterations?: number;
  /** relative cost reduction below which we stop */
  ftol?: number;
  /** relative step size below which we stop */
  xtol?: number;
  /** projected-gradient infinity norm (scaled) below which we stop */
  gtol?: number;
}

export interface LmResult {
  p: Float64Array;
  /** 0.5·Σ r² (scipy's `cost`) */
  cost: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  message: string;
}

function halfSse(r: Float64Array): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += r[i] * r[i];
  return 0.5 * s;
}

export function clipToBox(p: ArrayLike<number>, lo: ArrayLike<number>, hi: ArrayLike<number>): Float64Array {
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = Math.min(hi[i], Math.max(lo[i], p[i]));
  return out;
}

export function lmBounded(
  model: ResidualModel,
  p0: ArrayLike<number>,
  lo: ArrayLike<number>,
  hi: ArrayLike<number>,
  opts: LmOptions = {},
): LmResult {
  const { n, m } = model;
  const maxIt = opts.maxIterations ?? 400;
  const ftol = opts.ftol ?? 1e-12;
  const xtol = opts.xtol ?? 1e-12;
  const gtol = opts.gtol ?? 1e-12;
  let p = clipToBox(p0, lo, hi);
  const r = new Float64Array(n);
  const J = new Float64Array(n * m);
  const rTry = new Float64Array(n);
  model.evaluate(p, r, J);
  let evals = 1;
  let cost = halfSse(r);
  if (!Number.isFinite(cost)) {
    return { p, cost: Infinity, iterations: 0, evaluations: evals, converged: false, message: 'non-finite residuals at the start' };
  }
  const g = new Float64Array(m);
  const H = new Float64Array(m * m);
  const dScale = new Float64Array(m);
  let lambda = -1;
  let nu = 2;
  let it = 0;
  let message = 'maximum number of iterations reached';
  let converged = false;
  let needJacobian = false;
  while (it < maxIt) {
    it++;
    if (needJacobian) { model.evaluate(p, r, J); evals++; needJacobian = false; }
    g.fill(0);
    H.fill(0);
    for (let i = 0; i < n; i++) {
      const ri = r[i];
      const row = i * m;
      for (let a = 0; a < m; a++) {
        const ja = J[row + a];
        if (ja === 0) continue;
        g[a] += ja * ri;
        for (let b = 0; b <= a; b++) H[a * m + b] += ja * J[row + b];
      }
    }
    for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) H[b * m + a] = H[a * m + b];
    // Active set: on a bound and the descent direction points out of the box.
    const free: number[] = [];
    let gmax = 0;
    for (let a = 0; a < m; a++) {
      const atLo = p[a] <= lo[a] && g[a] > 0;
      const atHi = p[a] >= hi[a] && g[a] < 0;
      if (!atLo && !atHi) {
        free.push(a);
        dScale[a] = Math.max(dScale[a], H[a * m + a]);
        const scaled = Math.abs(g[a]) * Math.max(Math.abs(p[a]), 1e-12) / Math.max(cost, 1e-300);
        gmax = Math.max(gmax, scaled);
      }
    }
    if (free.length === 0 || gmax < gtol) { message = 'projected gradient is zero'; converged = true; break; }
    if (lambda < 0) {
      let dmax = 0;
      for (const a of free) dmax = Math.max(dmax, H[a * m + a]);
      lambda = 1e-3 * (dmax > 0 ? dmax : 1);
    }
    const f = free.length;
    const A = new Float64Array(f * f);
    const rhs = new Float64Array(f);
    let accepted = false;
    for (let inner = 0; inner < 60; inner++) {
      for (let i = 0; i < f; i++) {
        const a = free[i];
        rhs[i] = -g[a];
        for (let j = 0; j < f; j++) A[i * f + j] = H[a * m + free[j]];
        A[i * f + i] += lambda * (dScale[a] > 0 ? dScale[a] : 1e-30);
      }
      const L = cholesky(A, f);
      if (!L) { lambda *= nu; nu *= 2; continue; }
      const delta = choleskySolve(L, f, rhs);
      const pTry = Float64Array.from(p);
      for (let i = 0; i < f; i++) pTry[free[i]] += delta[i];
      const pc = clipToBox(pTry, lo, hi);
      // Predicted reduction of the quadratic model along the projected step s.
      const s = new Float64Array(m);
      let stepNorm = 0, pNorm = 0;
      for (let a = 0; a < m; a++) { s[a] = pc[a] - p[a]; stepNorm += (s[a] / Math.max(Math.abs(p[a]), 1e-8)) ** 2; pNorm += 1; }
      let gs = 0, sHs = 0;
      for (let a = 0; a < m; a++) {
        gs += g[a] * s[a];
        for (let b = 0; b < m; b++) sHs += s[a] * H[a * m + b] * s[b];
      }
      const predicted = -(gs + 0.5 * sHs);
      model.evaluate(pc, rTry, null);
      evals++;
      const costTry = halfSse(rTry);
      const actual = cost - costTry;
      if (Number.isFinite(costTry) && actual > 0 && predicted > 0) {
        const rho = actual / predicted;
        p = pc;
        const oldCost = cost;
        cost = costTry;
        needJacobian = true;
        lambda *= Math.max(1 / 3, 1 - (2 * rho - 1) ** 3);
        nu = 2;
        accepted = true;
        if (actual <= ftol * oldCost) { message = 'relative cost reduction below ftol'; converged = true; }
        else if (Math.sqrt(stepNorm / pNorm) <= xtol) { message = 'relative step below xtol'; converged = true; }
        break;
      }
      if (Math.sqrt(stepNorm / pNorm) <= xtol || (Number.isFinite(costTry) && Math.abs(actual) <= ftol * cost && predicted <= ftol * cost)) {
        message = 'no further reduction possible';
        converged = true;
        break;
      }
      lambda *= nu;
      nu *= 2;
      if (!Number.isFinite(lambda) || lambda > 1e300) break;
    }
    if (converged) break;
    if (!accepted) { message = 'damping exhausted without reducing the cost'; converged = true; break; }
  }
  return { p, cost, iterations: it, evaluations: evals, converged, message };
}
