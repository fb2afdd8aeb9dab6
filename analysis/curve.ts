/**
 * Multi-start bounded least squares for the one-variable laws in laws.ts.
 * Starting points are ranked by their cost and the best few distinct ones are polished by the
 * bounded Levenberg–Marquardt in lm.ts; the lowest end point wins.
 */
import { LAWS, type CurveLaw, type CurveLawName } from './laws';
import { clipToBox, lmBounded, type ResidualModel } from './lm';

export function curveModel(law: CurveLaw, x: ArrayLike<number>, y: ArrayLike<number>): ResidualModel {
  const m = law.params.length;
  return {
    n: x.length,
    m,
    evaluate(p, r, J) {
      for (let i = 0; i < x.length; i++) {
        r[i] = law.value(x[i], p) - y[i];
        if (J) law.gradient(x[i], p, J, i * m);
      }
    },
  };
}

/** Bounds actually used for a data set (width-depth confines the breakpoint to the data range). */
export function lawBounds(law: CurveLaw, x: ArrayLike<number>): { lower: number[]; upper: number[] } {
  const lower = [...law.lower], upper = [...law.upper];
  if (law.name === 'width-depth') {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < x.length; i++) { lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]); }
    lower[2] = lo; upper[2] = hi;
  }
  return { lower, upper };
}

function cost(law: CurveLaw, x: ArrayLike<number>, y: ArrayLike<number>, p: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) { const r = law.value(x[i], p) - y[i]; s += r * r; }
  return Number.isFinite(s) ? 0.5 * s : Infinity;
}

export interface CurveCoreResult {
  p: number[];
  /** 0.5·Σ r² */
  cost: number;
  converged: boolean;
  /** LM iterations of the winning start */
  iterations: number;
  message: string;
  /** number of candidate starts considered */
  starts: number;
  /** the best distinct starts (clipped), useful to seed bootstrap refits */
  topStarts: number[][];
}

export interface CurveCoreOptions {
  /** how many of the best-ranked starts to polish with LM (default 12) */
  polish?: number;
  /** extra starts to polish in any case (e.g. the full-data optimum for a bootstrap refit) */
  extraStarts?: readonly (readonly number[])[];
  /** skip the law's own start generator (use only extraStarts) */
  onlyExtraStarts?: boolean;
}

export function fitCurveCore(lawName: CurveLawName, x: ArrayLike<number>, y: ArrayLike<number>, opts: CurveCoreOptions = {}): CurveCoreResult {
  const law = LAWS[lawName];
  const { lower, upper } = lawBounds(law, x);
  const polish = opts.polish ?? 12;
  const cands = opts.onlyExtraStarts ? [] : law.starts(x, y);
  const ranked = cands
    .map((s) => clipToBox(s, lower, upper))
    .map((p) => ({ p, c: cost(law, x, y, p) }))
    .filter((s) => Number.isFinite(s.c))
    .sort((a, b) => a.c - b.c);
  // Keep distinct starts (relative difference in some parameter > 1%).
  const chosen: Float64Array[] = [];
  for (const s of ranked) {
    if (chosen.length >= polish) break;
    const dup = chosen.some((c) => c.every((v, j) => Math.abs(v - s.p[j]) <= 0.01 * Math.max(Math.abs(v), Math.abs(s.p[j]), 1e-12)));
    if (!dup) chosen.push(s.p);
  }
  const all = [...(opts.extraStarts ?? []).map((s) => clipToBox(s, lower, upper)), ...chosen];
  const model = curveModel(law, x, y);
  let best: CurveCoreResult | null = null;
  for (const s of all) {
    const r = lmBounded(model, s, lower, upper);
    if (!Number.isFinite(r.cost)) continue;
    if (!best || r.cost < best.cost) {
      best = { p: Array.from(r.p), cost: r.cost, converged: r.converged, iterations: r.iterations, message: r.message, starts: cands.length + (opts.extraStarts?.length ?? 0), topStarts: [] };
    }
  }
  const topStarts = chosen.slice(0, 4).map((c) => Array.from(c));
  if (!best) {
    return { p: law.params.map(() => NaN), cost: NaN, converged: false, iterations: 0, message: 'no start gave a finite cost', starts: cands.length, topStarts };
  }
  best.topStarts = topStarts;
  return best;
}
