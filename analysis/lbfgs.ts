/**
 * Unconstrained L-BFGS with a strong-Wolfe line search (Nocedal & Wright, alg. 7.4, 3.5–3.6),
 * for smooth objectives with analytic gradients.
 */

export type ObjectiveWithGradient = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  /** history size */
  memory?: number;
  maxIterations?: number;
  /** stop when max |g_i| ≤ gtol */
  gtol?: number;
  /** stop when (f_prev − f) ≤ ftol · max(|f_prev|, |f|, fscale) */
  ftol?: number;
  /** scale floor of the ftol test (scipy's L-BFGS-B uses 1) */
  fscale?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  message: string;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function lbfgs(fg: ObjectiveWithGradient, x0: ArrayLike<number>, opts: LbfgsOptions = {}): LbfgsResult {
  const n = x0.length;
  const mem = opts.memory ?? 10;
  const maxIt = opts.maxIterations ?? 15000;
  const gtol = opts.gtol ?? 1e-5;
  const ftol = opts.ftol ?? 2.220446049250313e-9;
  const fscale = opts.fscale ?? 1;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f = fg(x, g);
  let evals = 1;
  if (!Number.isFinite(f)) return { x, f, iterations: 0, evaluations: evals, converged: false, message: 'non-finite objective at start' };
  const S: Float64Array[] = [], Y: Float64Array[] = [], RHO: number[] = [];
  const d = new Float64Array(n);
  const alphaBuf = new Float64Array(mem);
  const xNew = new Float64Array(n);
  let gNew = new Float64Array(n);
  let it = 0;
  let message = 'maximum number of iterations reached';
  let converged = false;
  const ginf = (v: Float64Array) => { let m = 0; for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(v[i])); return m; };
  if (ginf(g) <= gtol) return { x, f, iterations: 0, evaluations: evals, converged: true, message: 'gradient below gtol' };

  while (it < maxIt) {
    it++;
    // Two-loop recursion: d = −H·g
    for (let i = 0; i < n; i++) d[i] = -g[i];
    const k = S.length;
    for (let j = k - 1; j >= 0; j--) {
      const a = RHO[j] * dot(S[j], d);
      alphaBuf[j] = a;
      const y = Y[j];
      for (let i = 0; i < n; i++) d[i] -= a * y[i];
    }
    if (k > 0) {
      const gamma = dot(S[k - 1], Y[k - 1]) / dot(Y[k - 1], Y[k - 1]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let j = 0; j < k; j++) {
      const b = RHO[j] * dot(Y[j], d);
      const s = S[j];
      const c = alphaBuf[j] - b;
      for (let i = 0; i < n; i++) d[i] += c * s[i];
    }
    let dg = dot(d, g);
    if (!(dg < 0)) {
      // Not a descent direction: reset to steepest descent.
      S.length = 0; Y.length = 0; RHO.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i];
      dg = dot(d, g);
    }
    const step0 = k === 0 ? Math.min(1, 1 / Math.max(ginf(g), 1e-300)) : 1;
    const ls = wolfeSearch(fg, x, f, g, d, dg, step0, xNew, gNew);
    evals += ls.evals;
    if (!ls.ok) {
      if (S.length > 0) { S.length = 0; Y.length = 0; RHO.length = 0; continue; }
      message = 'line search failed'; converged = true; break;
    }
    const fPrev = f;
    const s = new Float64Array(n), y = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = xNew[i] - x[i]; y[i] = gNew[i] - g[i]; }
    x = Float64Array.from(xNew);
    const tmp = g; g = gNew; gNew = tmp;
    f = ls.f;
    const sy = dot(s, y);
    if (sy > 1e-16 * dot(y, y)) {
      if (S.length === mem) { S.shift(); Y.shift(); RHO.shift(); }
      S.push(s); Y.push(y); RHO.push(1 / sy);
    }
    if (ginf(g) <= gtol) { message = 'gradient below gtol'; converged = true; break; }
    if (fPrev - f <= ftol * Math.max(Math.abs(fPrev), Math.abs(f), fscale)) { message = 'relative reduction below ftol'; converged = true; break; }
  }
  return { x, f, iterations: it, evaluations: evals, converged, message };
}

interface LineSearchResult { ok: boolean; f: number; evals: number }

function wolfeSearch(
  fg: ObjectiveWithGradient, x: Float64Array, f0: number, g0: Float64Array, d: Float64Array, dg0: number,
  step0: number, xOut: Float64Array, gOut: Float64Array,
): LineSearchResult {
  const c1 = 1e-4, c2 = 0.9;
  const n = x.length;
  let evals = 0;
  const phi = (t: number): [number, number] => {
    for (let i = 0; i < n; i++) xOut[i] = x[i] + t * d[i];
    const fv = fg(xOut, gOut);
    evals++;
    return [fv, dot(gOut, d)];
  };
  let tPrev = 0, fPrev = f0, dPrev = dg0;
  let t = step0;
  for (let i = 0; i < 30; i++) {
    const [ft, dt] = phi(t);
    if (!Number.isFinite(ft) || ft > f0 + c1 * t * dg0 || (i > 0 && ft >= fPrev)) {
      return zoom(tPrev, fPrev, dPrev, t, ft, dt);
    }
    if (Math.abs(dt) <= -c2 * dg0) return { ok: true, f: ft, evals };
    if (dt >= 0) return zoom(t, ft, dt, tPrev, fPrev, dPrev);
    tPrev = t; fPrev = ft; dPrev = dt;
    t *= 2;
  }
  return { ok: false, f: f0, evals };

  function zoom(tLo: number, fLo: number, dLo: number, tHi: number, fHi: number, dHi: number): LineSearchResult {
    for (let j = 0; j < 40; j++) {
      // cubic interpolation, safeguarded into the middle of the bracket
      let tj: number;
      const d1 = dLo + dHi - 3 * (fLo - fHi) / (tLo - tHi);
      const disc = d1 * d1 - dLo * dHi;
      if (Number.isFinite(fHi) && disc >= 0) {
        const d2 = Math.sign(tHi - tLo) * Math.sqrt(disc);
        tj = tHi - (tHi - tLo) * (dHi + d2 - d1) / (dHi - dLo + 2 * d2);
      } else tj = 0.5 * (tLo + tHi);
      const lo = Math.min(tLo, tHi), hi = Math.max(tLo, tHi), w = hi - lo;
      if (!Number.isFinite(tj) || tj < lo + 0.1 * w || tj > hi - 0.1 * w) tj = 0.5 * (tLo + tHi);
      const [fj, dj] = phi(tj);
      if (!Number.isFinite(fj) || fj > f0 + c1 * tj * dg0 || fj >= fLo) {
        tHi = tj; fHi = fj; dHi = dj;
      } else {
        if (Math.abs(dj) <= -c2 * dg0) return { ok: true, f: fj, evals };
        if (dj * (tHi - tLo) >= 0) { tHi = tLo; fHi = fLo; dHi = dLo; }
        tLo = tj; fLo = fj; dLo = dj;
      }
      if (Math.abs(tHi - tLo) < 1e-16 * Math.max(1, Math.abs(tLo))) break;
    }
    // Fall back to the best point found if it decreases f (sufficient decrease holds at tLo).
    if (tLo > 0 && fLo < f0) { const [fv] = phi(tLo); return { ok: true, f: fv, evals }; }
    return { ok: false, f: f0, evals };
  }
}
