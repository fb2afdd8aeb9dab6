/**
 * Chinchilla: L(N, D) = E + A/N^α + B/D^β, fitted the Hoffmann / Epoch AI way.
 *
 * Objective (Epoch's "Chinchilla Scaling: A replication attempt"): the summed Huber loss (δ = 1e-3)
 * of LSE(a − α·ln N, b − β·ln D, e) − ln L, with A = e^a, B = e^b, E = e^e, minimised by L-BFGS
 * from every point of a 4,500-point grid (α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1},
 * a, b ∈ {0, 5, …, 25}); the best end point wins. Our L-BFGS uses the analytic gradient.
 */
import { lbfgs, type LbfgsOptions } from './lbfgs';

export interface ChinchillaPoint { N: number; D: number; L: number }
export interface ChinchillaData { lnN: Float64Array; lnD: Float64Array; lnL: Float64Array }
/** Raw parameter vector order: [a, b, e, alpha, beta]. */
export type ChinchillaRaw = [number, number, number, number, number];
export interface ChinchillaParams { E: number; A: number; B: number; alpha: number; beta: number }

export const HUBER_DELTA = 1e-3;

export function chinchillaData(points: readonly ChinchillaPoint[]): ChinchillaData {
  const n = points.length;
  const d: ChinchillaData = { lnN: new Float64Array(n), lnD: new Float64Array(n), lnL: new Float64Array(n) };
  points.forEach((p, i) => {
    d.lnN[i] = Math.log(p.N);
    d.lnD[i] = Math.log(p.D);
    d.lnL[i] = Math.log(p.L);
  });
  return d;
}

export function subsetData(d: ChinchillaData, idx: ArrayLike<number>): ChinchillaData {
  const n = idx.length;
  const out: ChinchillaData = { lnN: new Float64Array(n), lnD: new Float64Array(n), lnL: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    out.lnN[i] = d.lnN[idx[i]];
    out.lnD[i] = d.lnD[idx[i]];
    out.lnL[i] = d.lnL[idx[i]];
  }
  return out;
}

/** Summed Huber loss and its gradient with respect to [a, b, e, alpha, beta]. */
export function huberObjective(x: ArrayLike<number>, d: ChinchillaData, grad: Float64Array | null, delta = HUBER_DELTA): number {
  const a = x[0], b = x[1], e = x[2], al = x[3], be = x[4];
  const n = d.lnL.length;
  let f = 0, ga = 0, gb = 0, ge = 0, gal = 0, gbe = 0;
  for (let i = 0; i < n; i++) {
    const ln = d.lnN[i], ld = d.lnD[i];
    const t1 = a - al * ln, t2 = b - be * ld;
    const m = Math.max(t1, t2, e);
    const e1 = Math.exp(t1 - m), e2 = Math.exp(t2 - m), e3 = Math.exp(e - m);
    const s = e1 + e2 + e3;
    const r = m + Math.log(s) - d.lnL[i];
    const ar = Math.abs(r);
    let h: number;
    if (ar <= delta) { f += 0.5 * r * r; h = r; } else { f += delta * (ar - 0.5 * delta); h = r > 0 ? delta : -delta; }
    if (grad) {
      const w = h / s;
      const w1 = w * e1, w2 = w * e2;
      ga += w1; gb += w2; ge += w * e3;
      gal -= w1 * ln; gbe -= w2 * ld;
    }
  }
  if (grad) { grad[0] = ga; grad[1] = gb; grad[2] = ge; grad[3] = gal; grad[4] = gbe; }
  return f;
}

/** Epoch's 4,500-point starting grid, as [a, b, e, alpha, beta]. */
export function epochGrid(): ChinchillaRaw[] {
  const out: ChinchillaRaw[] = [];
  const ab = [0, 5, 10, 15, 20, 25];
  const ee = [-1, -0.5, 0, 0.5, 1];
  const exps = [0, 0.5, 1, 1.5, 2];
  for (const al of exps) for (const be of exps) for (const e of ee) for (const a of ab) for (const b of ab) out.push([a, b, e, al, be]);
  return out;
}

export interface ChinchillaLocalFit { x: ChinchillaRaw; f: number; converged: boolean; message: string; iterations: number }

/** Default L-BFGS settings: tighter than scipy's defaults (which stop at an absolute 2.2e-9 change). */
export const CHINCHILLA_LBFGS: LbfgsOptions = { gtol: 1e-8, ftol: 1e-10, fscale: 1e-12, maxIterations: 2000 };

export function fitChinchillaFrom(d: ChinchillaData, start: ArrayLike<number>, opts: LbfgsOptions = CHINCHILLA_LBFGS): ChinchillaLocalFit {
  const res = lbfgs((x, g) => huberObjective(x, d, g), start, opts);
  const x = Array.from(res.x) as ChinchillaRaw;
  return { x, f: res.f, converged: res.converged, message: res.message, iterations: res.iterations };
}

/** Runs L-BFGS from every start and returns the best end point (ties: the earlier start). */
export function bestOfStarts(d: ChinchillaData, starts: readonly ArrayLike<number>[], opts?: LbfgsOptions): ChinchillaLocalFit & { index: number } {
  let best: (ChinchillaLocalFit & { index: number }) | null = null;
  starts.forEach((s, index) => {
    const r = fitChinchillaFrom(d, s, opts);
    if (Number.isFinite(r.f) && (!best || r.f < best.f)) best = { ...r, index };
  });
  if (!best) return { x: [NaN, NaN, NaN, NaN, NaN], f: NaN, converged: false, message: 'no start converged to a finite objective', iterations: 0, index: -1 };
  return best;
}

export function rawToParams(x: ArrayLike<number>): ChinchillaParams {
  return { A: Math.exp(x[0]), B: Math.exp(x[1]), E: Math.exp(x[2]), alpha: x[3], beta: x[4] };
}

export function predictLoss(p: ChinchillaParams, N: number, D: number): number {
  return p.E + p.A / Math.pow(N, p.alpha) + p.B / Math.pow(D, p.beta);
}

/**
 * Compute-optimal allocation for a FLOP budget C = 6·N·D (Hoffmann et al. eq. 4):
 * N_opt = G·(C/6)^(β/(α+β)), D_opt = G⁻¹·(C/6)^(α/(α+β)), G = (αA/(βB))^(1/(α+β)).
 */
export function computeOptimal(p: ChinchillaParams, C: number): { N: number; D: number; loss: number } {
  const s = p.alpha + p.beta;
  const G = Math.pow((p.alpha * p.A) / (p.beta * p.B), 1 / s);
  const N = G * Math.pow(C / 6, p.beta / s);
  const D = C / 6 / N;
  return { N, D, loss: predictLoss(p, N, D) };
}

/** Loss reached at (N, D) lines of constant loss: D on the iso-loss curve for N, or NaN if unreachable. */
export function isoLossD(p: ChinchillaParams, loss: number, N: number): number {
  const rest = loss - p.E - p.A / Math.pow(N, p.alpha);
  if (!(rest > 0)) return NaN;
  return Math.pow(p.B / rest, 1 / p.beta);
}

/**
 * The identified sub-model when only one of N, D varies: L = K + B/X^β (X the varying axis),
 * fitted like the full law (Huber, δ = 1e-3, on LSE(b − β·ln X, k) − ln L; K = e^k, B = e^b).
 * With one model size, K = E + A/N^α: E, A and α are not separately identified.
 * Raw vector [b, k, beta]; returns the summed Huber loss and writes its gradient.
 */
export function huberObjectiveOneAxis(x: ArrayLike<number>, lnX: Float64Array, lnL: Float64Array, grad: Float64Array | null, delta = HUBER_DELTA): number {
  const b = x[0], k = x[1], be = x[2];
  let f = 0, gb = 0, gk = 0, gbe = 0;
  for (let i = 0; i < lnL.length; i++) {
    const t = b - be * lnX[i];
    const m = Math.max(t, k);
    const e1 = Math.exp(t - m), e2 = Math.exp(k - m);
    const s = e1 + e2;
    const r = m + Math.log(s) - lnL[i];
    const ar = Math.abs(r);
    let h: number;
    if (ar <= delta) { f += 0.5 * r * r; h = r; } else { f += delta * (ar - 0.5 * delta); h = r > 0 ? delta : -delta; }
    if (grad) {
      const w = h / s;
      gb += w * e1; gk += w * e2; gbe -= w * e1 * lnX[i];
    }
  }
  if (grad) { grad[0] = gb; grad[1] = gk; grad[2] = gbe; }
  return f;
}

/** Starting grid for the one-axis sub-model, [b, k, beta]: b ∈ {0, 5, …, 25}, k ∈ {−1, −0.5, …, 1}, β ∈ {0, 0.5, …, 2}. */
export function oneAxisGrid(): number[][] {
  const out: number[][] = [];
  for (const be of [0, 0.5, 1, 1.5, 2]) for (const k of [-1, -0.5, 0, 0.5, 1]) for (const b of [0, 5, 10, 15, 20, 25]) out.push([b, k, be]);
  return out;
}

/** Best L-BFGS end point of the one-axis sub-model over `starts`. */
export function fitOneAxis(lnX: Float64Array, lnL: Float64Array, starts: readonly ArrayLike<number>[]): { x: number[]; f: number; converged: boolean; iterations: number; message: string } {
  let best: { x: number[]; f: number; converged: boolean; iterations: number; message: string } | null = null;
  for (const s of starts) {
    const r = lbfgs((x, g) => huberObjectiveOneAxis(x, lnX, lnL, g), s, CHINCHILLA_LBFGS);
    if (Number.isFinite(r.f) && (!best || r.f < best.f)) best = { x: Array.from(r.x), f: r.f, converged: r.converged, iterations: r.iterations, message: r.message };
  }
  return best ?? { x: [NaN, NaN, NaN], f: NaN, converged: false, iterations: 0, message: 'no start reached a finite objective' };
}

/** Hoffmann et al. (2022)'s published fit E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28 as [a, b, e, alpha, beta]: Epoch's start for bootstrap refits. */
export const HOFFMANN_RAW: ChinchillaRaw = [Math.log(406.4), Math.log(410.7), Math.log(1.69), 0.34, 0.28];
