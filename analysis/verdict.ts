/**
 * What a fit is: `ok`, `not-identified`, `degenerate` or `failed`, with the reason in words.
 *
 * A fitted law is what a researcher takes away; a number printed as "ok" that the data do not pin
 * down is worse than no number. The rules, in order of precedence:
 *   - `failed`: a precondition does not hold (no more points than parameters, too few distinct
 *     model sizes or token counts for a two-variable law, too little range on x for a curve law)
 *     or no start reached a finite objective;
 *   - `degenerate`: the law has collapsed: it explains no more than a constant does (R² ≤ 0.05, or
 *     the predictions vary less than 1e-6 of the data's spread), or a parameter sits on the bound
 *     that switches its term off (e.g. relu-logspace `c` at its lower bound: exp(b − c·D^α) is then
 *     a constant; silu-power `A0` at its upper bound 1);
 *   - `not-identified`: some parameter's interval reaches a bound of that parameter or is unbounded
 *     (the per-parameter `flags`), so the data do not determine it;
 *   - `ok` otherwise.
 */

export type FitStatus = 'ok' | 'not-identified' | 'degenerate' | 'failed';
export const FIT_STATUSES: readonly FitStatus[] = ['ok', 'not-identified', 'degenerate', 'failed'];

/** Fraction of the variance a law must explain not to count as a constant. */
export const DEGENERATE_R2 = 0.05;

/** A parameter bound that switches a term of a law off (the law then collapses). */
export interface SwitchOff {
  param: string;
  side: 'lower' | 'upper';
  /** what reaching it means, for the reason text */
  meaning: string;
}

/** Per law: the bounds at which a term vanishes or the law loses its shape. */
export const SWITCH_OFF: Record<string, readonly SwitchOff[]> = {
  'relu-logspace': [
    { param: 'c', side: 'lower', meaning: 'c at its lower bound: exp(b − c·D^α) is a constant, the law is flat' },
    { param: 'b', side: 'lower', meaning: 'b at its lower bound: the exp term is ~0, the law is the constant A0' },
    { param: 'alpha', side: 'lower', meaning: 'α at its lower bound: D^α ≈ 1, the law is flat' },
  ],
  'silu-power': [
    { param: 'c', side: 'lower', meaning: 'c at its lower bound: the power term vanishes, the law is the constant A0' },
    { param: 'A0', side: 'upper', meaning: 'A0 at its upper bound 1: the limit is pinned to the bound, not estimated' },
    { param: 'alpha', side: 'lower', meaning: 'α at its lower bound: D^(−α) ≈ 1, the law is flat' },
  ],
  power: [{ param: 'b', side: 'lower', meaning: 'b at its lower bound 0: x^(−b) = 1, the law is a constant' }],
};

/** True when v sits on the bound (within a relative 1e-6, and 1e-9 absolute near 0). */
export function onBound(v: number, bound: number | null | undefined): boolean {
  if (bound === null || bound === undefined || !Number.isFinite(bound)) return false;
  return Math.abs(v - bound) <= Math.max(1e-9, 1e-6 * Math.abs(bound));
}

export interface Verdict { status: FitStatus; reason: string | null }

export interface VerdictInput {
  law: string;
  params: Record<string, number>;
  bounds: Record<string, [number | null, number | null]>;
  flags: Record<string, string>;
  r2: number;
  /** spread of the fitted values relative to the data's spread (optional extra collapse test) */
  predictedSpread?: number;
  /** why the fit could not be made, when it could not */
  failure?: string | null;
}

/** The status of a fit from its parameters, bounds, flags and R² (see the module comment). */
export function classifyFit(v: VerdictInput): Verdict {
  if (v.failure) return { status: 'failed', reason: v.failure };
  const degenerate: string[] = [];
  if (Number.isFinite(v.r2) && v.r2 <= DEGENERATE_R2) {
    degenerate.push(`R² = ${v.r2.toPrecision(3)}: the law explains no more of the data than a constant`);
  }
  if (v.predictedSpread !== undefined && v.predictedSpread < 1e-6) degenerate.push('the fitted curve is flat (a constant)');
  for (const s of SWITCH_OFF[v.law] ?? []) {
    const b = v.bounds[s.param];
    const p = v.params[s.param];
    if (b && Number.isFinite(p) && onBound(p, s.side === 'lower' ? b[0] : b[1])) degenerate.push(s.meaning);
  }
  if (degenerate.length > 0) return { status: 'degenerate', reason: degenerate.join('; ') };
  const unidentified = Object.entries(v.flags).filter(([, f]) => f === 'not-identified' || f === 'at-bound');
  if (unidentified.length > 0) {
    const parts = unidentified.map(([k, f]) => (f === 'at-bound' ? `${k} sits on its bound` : `${k}'s interval reaches a bound or is unbounded`));
    return { status: 'not-identified', reason: `the data do not determine ${unidentified.map(([k]) => k).join(', ')}: ${parts.join('; ')}` };
  }
  return { status: 'ok', reason: null };
}

/** Minimum spread of x for a curve law: the largest x at least this many times the smallest (x > 0 laws). */
export const MIN_X_RATIO = 2;
/** Minimum number of distinct x values for a curve law, besides n > parameters. */
export const MIN_DISTINCT_X = 4;

/**
 * Preconditions of a curve fit, checked before fitting: more points than parameters, at least
 * max(MIN_DISTINCT_X, parameters) distinct x, and (for laws in x > 0) max x ≥ MIN_X_RATIO · min x.
 * Returns the reason it cannot be fitted, or null.
 */
export function curvePrecondition(law: string, params: number, x: readonly number[], positive: boolean): string | null {
  if (x.length <= params) return `law ${law} has ${params} parameters and needs more than ${params} points; got ${x.length}`;
  const distinct = new Set(x).size;
  const need = Math.max(MIN_DISTINCT_X, params);
  if (distinct < need) return `law ${law} needs at least ${need} distinct x values to pin down its shape; got ${distinct}`;
  if (positive) {
    let lo = Infinity, hi = -Infinity;
    for (const v of x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (hi < MIN_X_RATIO * lo) return `law ${law} needs x to span at least a factor ${MIN_X_RATIO}; got [${lo.toPrecision(4)}, ${hi.toPrecision(4)}]`;
  }
  return null;
}

/** Distinct values of a numeric list (exact equality). */
export function distinctCount(v: readonly number[]): number {
  return new Set(v).size;
}
