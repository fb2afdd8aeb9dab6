/**
 * The curve laws we fit, each with its formula, analytic Jacobian, physical bounds and a
 * data-driven generator of starting points (most laws are linear in two of their parameters
 * once the others are fixed, so a grid over the rest plus a closed-form regression gives good
 * starts cheaply).
 *
 * x is the independent variable after scaling (for Sparsing-Law curves: tokens in billions).
 */
import { simpleRegression } from './linalg';
import { logspace, linspace } from './stats';

export type CurveLawName = 'relu-logspace' | 'silu-power' | 'log' | 'sigmoid' | 'power' | 'width-depth';
/** Two- and three-variable laws: `chinchilla` L(N, D); `sparse-chinchilla` L(S, N, D) (Frantar et al. 2024). */
export type LawName = CurveLawName | 'chinchilla' | 'sparse-chinchilla';
export const CURVE_LAWS: readonly CurveLawName[] = ['relu-logspace', 'silu-power', 'log', 'sigmoid', 'power', 'width-depth'];
export const LAW_NAMES: readonly LawName[] = [...CURVE_LAWS, 'chinchilla', 'sparse-chinchilla'];

export function isCurveLaw(s: string): s is CurveLawName {
  return (CURVE_LAWS as readonly string[]).includes(s);
}

export interface CurveLaw {
  name: CurveLawName;
  formula: string;
  params: readonly string[];
  lower: readonly number[];
  upper: readonly number[];
  /** f(x; p) */
  value(x: number, p: ArrayLike<number>): number;
  /** writes ∂f/∂p_j into out[0..m) */
  gradient(x: number, p: ArrayLike<number>, out: Float64Array, offset: number): void;
  /** candidate starting points, any order (the fitter ranks them by cost) */
  starts(x: ArrayLike<number>, y: ArrayLike<number>): number[][];
  /** requirement on x, checked before fitting */
  xDomain: 'positive' | 'any';
  /** quantities derived from the fitted parameters, reported alongside them */
  derived?: (p: ArrayLike<number>) => Record<string, number>;
}

function minOf(a: ArrayLike<number>): number { let m = Infinity; for (let i = 0; i < a.length; i++) m = Math.min(m, a[i]); return m; }
function maxOf(a: ArrayLike<number>): number { let m = -Infinity; for (let i = 0; i < a.length; i++) m = Math.max(m, a[i]); return m; }

/** ReLU: A(D) = exp(−c·D^α + b) + A0, params [alpha, b, c, A0]. */
const reluLogspace: CurveLaw = {
  name: 'relu-logspace',
  formula: 'A(D) = exp(-c*D^alpha + b) + A0',
  params: ['alpha', 'b', 'c', 'A0'],
  lower: [1e-3, -20, 1e-8, 0],
  upper: [5, 20, 1e3, 1],
  xDomain: 'positive',
  value(x, p) { return Math.exp(-p[2] * Math.pow(x, p[0]) + p[1]) + p[3]; },
  gradient(x, p, out, o) {
    const xa = Math.pow(x, p[0]);
    const e = Math.exp(-p[2] * xa + p[1]);
    out[o] = -e * p[2] * xa * Math.log(x);
    out[o + 1] = e;
    out[o + 2] = -e * xa;
    out[o + 3] = 1;
  },
  starts(x, y) {
    // For fixed (alpha, A0): ln(y − A0) = b − c·x^alpha is linear in (b, c).
    const ymin = minOf(y);
    const out: number[][] = [];
    for (const alpha of logspace(1e-2, 5, 28)) {
      for (const f of [0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]) {
        const A0 = f * ymin;
        const u = Array.from(x, (v) => Math.pow(v, alpha));
        const z = Array.from(y, (v) => Math.log(v - A0));
        if (z.some((v) => !Number.isFinite(v))) continue;
        const reg = simpleRegression(u, z);
        if (!reg || !Number.isFinite(reg.b0) || !Number.isFinite(reg.b1)) continue;
        out.push([alpha, reg.b0, -reg.b1, A0]);
      }
    }
    out.push([0.5, -3, 0.3, 0.9 * ymin], [1, -3.5, 0.01, 0.9 * ymin], [2, -4, 1e-5, 0.9 * ymin]);
    return out;
  },
};

/** SiLU: A(D) = −c·D^(−α) + A0, params [alpha, c, A0]. */
const siluPower: CurveLaw = {
  name: 'silu-power',
  formula: 'A(D) = -c*D^(-alpha) + A0',
  params: ['alpha', 'c', 'A0'],
  lower: [1e-3, 1e-8, 0],
  upper: [5, 1e3, 1],
  xDomain: 'positive',
  value(x, p) { return -p[1] * Math.pow(x, -p[0]) + p[2]; },
  gradient(x, p, out, o) {
    const xa = Math.pow(x, -p[0]);
    out[o] = p[1] * xa * Math.log(x);
    out[o + 1] = -xa;
    out[o + 2] = 1;
  },
  starts(x, y) {
    const out: number[][] = [];
    for (const alpha of logspace(1e-2, 5, 40)) {
      const u = Array.from(x, (v) => Math.pow(v, -alpha));
      const reg = simpleRegression(u, y);
      if (!reg) continue;
      out.push([alpha, -reg.b1, reg.b0]);
    }
    return out;
  },
};

/** Baseline: A = c·ln(a·D + b) + A0, params [a, b, c, A0]. a and b are kept positive so the log is defined. */
const logLaw: CurveLaw = {
  name: 'log',
  formula: 'A(D) = c*ln(a*D + b) + A0',
  params: ['a', 'b', 'c', 'A0'],
  lower: [1e-8, 1e-8, -1e3, -1e3],
  upper: [1e4, 1e4, 1e3, 1e3],
  xDomain: 'any',
  value(x, p) { return p[2] * Math.log(p[0] * x + p[1]) + p[3]; },
  gradient(x, p, out, o) {
    const s = p[0] * x + p[1];
    out[o] = (p[2] * x) / s;
    out[o + 1] = p[2] / s;
    out[o + 2] = Math.log(s);
    out[o + 3] = 1;
  },
  starts(x, y) {
    const out: number[][] = [];
    for (const a of logspace(1e-4, 1e3, 15)) {
      for (const b of logspace(1e-4, 1e3, 15)) {
        const u = Array.from(x, (v) => Math.log(a * v + b));
        if (u.some((v) => !Number.isFinite(v))) continue;
        const reg = simpleRegression(u, y);
        if (!reg) continue;
        out.push([a, b, reg.b1, reg.b0]);
      }
    }
    return out;
  },
};

function sigmoidNeg(t: number): number {
  // 1 / (1 + e^t), stable for large |t|
  if (t >= 0) { const e = Math.exp(-t); return e / (1 + e); }
  return 1 / (1 + Math.exp(t));
}

/** Baseline: A = a − 1/(1 + b·e^(c·D + d)), params [a, b, c, d]. */
const sigmoidLaw: CurveLaw = {
  name: 'sigmoid',
  formula: 'A(D) = a - 1/(1 + b*exp(c*D + d))',
  params: ['a', 'b', 'c', 'd'],
  lower: [-10, 1e-12, -1e3, -50],
  upper: [10, 1e12, 1e3, 50],
  xDomain: 'any',
  value(x, p) { return p[0] - sigmoidNeg(Math.log(p[1]) + p[2] * x + p[3]); },
  gradient(x, p, out, o) {
    const s = sigmoidNeg(Math.log(p[1]) + p[2] * x + p[3]);
    const w = s * (1 - s);
    out[o] = 1;
    out[o + 1] = w / p[1];
    out[o + 2] = w * x;
    out[o + 3] = w;
  },
  starts(x, y) {
    // For fixed a: ln(1/(a − y) − 1) = ln b + c·D (taking d = 0) is linear.
    const out: number[][] = [];
    const ymax = maxOf(y);
    for (const gap of [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95]) {
      const a = ymax + gap;
      const z = Array.from(y, (v) => Math.log(1 / (a - v) - 1));
      if (z.some((v) => !Number.isFinite(v))) continue;
      const reg = simpleRegression(x, z);
      if (!reg) continue;
      out.push([a, Math.min(1e12, Math.max(1e-12, Math.exp(reg.b0))), reg.b1, 0]);
    }
    return out;
  },
};

/** Generic power law: y = a·x^(−b) + c, params [a, b, c]. */
const powerLaw: CurveLaw = {
  name: 'power',
  formula: 'y = a*x^(-b) + c',
  params: ['a', 'b', 'c'],
  lower: [-Infinity, 0, -Infinity],
  upper: [Infinity, 10, Infinity],
  xDomain: 'positive',
  value(x, p) { return p[0] * Math.pow(x, -p[1]) + p[2]; },
  gradient(x, p, out, o) {
    const xb = Math.pow(x, -p[1]);
    out[o] = xb;
    out[o + 1] = -p[0] * xb * Math.log(x);
    out[o + 2] = 1;
  },
  starts(x, y) {
    const out: number[][] = [];
    for (const b of logspace(1e-3, 5, 40)) {
      const u = Array.from(x, (v) => Math.pow(v, -b));
      const reg = simpleRegression(u, y);
      if (!reg) continue;
      out.push([reg.b1, b, reg.b0]);
    }
    return out;
  },
};

/**
 * Width/depth: y = intercept + slope·min(r, breakpoint), r = d_model / n_layers: a line up to
 * the breakpoint, flat after it (plateau = intercept + slope·breakpoint, reported as derived).
 * Params [slope, intercept, breakpoint]; the breakpoint is bounded to the observed range of r
 * (set in fit.ts from the data).
 */
const widthDepth: CurveLaw = {
  name: 'width-depth',
  formula: 'A(r) = intercept + slope*min(r, breakpoint)',
  params: ['slope', 'intercept', 'breakpoint'],
  lower: [-1e3, -1e3, -Infinity],
  upper: [1e3, 1e3, Infinity],
  xDomain: 'any',
  value(x, p) { return p[1] + p[0] * Math.min(x, p[2]); },
  gradient(x, p, out, o) {
    out[o] = Math.min(x, p[2]);
    out[o + 1] = 1;
    out[o + 2] = x > p[2] ? p[0] : 0;
  },
  starts(x, y) {
    // Profile the breakpoint: for a fixed breakpoint the model is linear in (intercept, slope).
    const lo = minOf(x), hi = maxOf(x);
    const out: number[][] = [];
    const cands = new Set<number>(linspace(lo, hi, 200));
    for (let i = 0; i < x.length; i++) cands.add(x[i]);
    for (const bp of cands) {
      const u = Array.from(x, (v) => Math.min(v, bp));
      const reg = simpleRegression(u, y);
      if (!reg) continue;
      out.push([reg.b1, reg.b0, bp]);
    }
    return out;
  },
  derived(p) { return { plateau: p[1] + p[0] * p[2] }; },
};

export const LAWS: Record<CurveLawName, CurveLaw> = {
  'relu-logspace': reluLogspace,
  'silu-power': siluPower,
  log: logLaw,
  sigmoid: sigmoidLaw,
  power: powerLaw,
  'width-depth': widthDepth,
};

export function isLawName(s: string): s is LawName {
  return (LAW_NAMES as readonly string[]).includes(s);
}

/** Evaluates a fitted curve law at x (params by name, as in FitResult.params). */
export function predictCurve(law: CurveLawName, params: Record<string, number>, x: number): number {
  const l = LAWS[law];
  return l.value(x, l.params.map((k) => params[k]));
}
