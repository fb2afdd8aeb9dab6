/**
 * The test of "The Journey Matters" (Jin et al., 2025, "The Journey Matters: Average Parameter
 * Count over Pre-training Unifies Sparse and Dense Scaling Laws"): their claim is that a
 * Chinchilla law fitted with N = N̄, the average number of non-zero parameters over training,
 * describes dense and pruned runs together better than N = the final non-zero count or N = the
 * dense count. Here the claim is tested on the user's own runs: one law (Hoffmann et al. eq. 2,
 * fitted as in fit.ts) is fitted three ways and compared by
 *   - AIC (Gaussian, from the residual sum of squares of L; k = the parameters the fit could use),
 *   - leave-one-run-out held-out error: each run's final loss predicted by the law fitted to the
 *     other runs, reported as the mean |ln L̂ − ln L| (the scale of the fitting objective; ≈ the
 *     mean relative error for small errors).
 *
 * A winner is named only when all three fits identify the N-dependence (A and α) and there are at
 * least MIN_RUNS runs; otherwise the comparison's status says why and names no winner. When every
 * run has the same token budget (one distinct D) the identified sub-model L = K + A/N^α is used,
 * which is all the comparison of N definitions needs.
 */
import { epochGrid, predictLoss } from './chinchilla';
import { fitChinchilla, type ChinchillaOptions, type FitResult } from './fit';
import type { FitStatus } from './verdict';

export type NDefinition = 'avg-nonzero' | 'final-nonzero' | 'dense';
export const N_DEFINITIONS: readonly NDefinition[] = ['avg-nonzero', 'final-nonzero', 'dense'];
export const N_DEFINITION_LABEL: Record<NDefinition, string> = {
  'avg-nonzero': 'N̄ (average non-zero parameters over training)',
  'final-nonzero': 'N_final (non-zero parameters at the end)',
  dense: 'N_dense (parameters of the dense model)',
};

export interface JourneyRun {
  id: string;
  /** N̄: average non-zero (linear) parameters over training */
  avgNonzero: number;
  /** non-zero parameters at the end of training */
  finalNonzero: number;
  /** parameters of the same model without pruning */
  dense: number;
  /** training tokens */
  tokens: number;
  /** final validation loss (> 0) */
  loss: number;
}

export interface JourneyVariant {
  n: NDefinition;
  label: string;
  fit: FitResult;
  /** parameters the fit used: 5 (full law) or 3 (sub-model K + A/N^α with one token budget) */
  k: number;
  aic: number;
  /** mean over runs of |ln L̂ − ln L| with L̂ from the fit to the other runs; NaN if not computed */
  heldOutLogError: number;
  /** per run, the held-out prediction */
  heldOut: Array<{ runId: string; loss: number; predicted: number }>;
  /** whether this fit identifies A and α (the N-dependence being compared) */
  usable: boolean;
}

export interface JourneyComparison {
  /** `ok`: a winner can be named; otherwise why not (too few runs, N-dependence not identified) */
  status: FitStatus;
  reason: string | null;
  /** a remark that does not change the status (e.g. AIC cannot separate the best two) */
  note: string | null;
  variants: JourneyVariant[];
  /** the definition with the lowest held-out error, or null when status is not ok */
  bestByHeldOut: NDefinition | null;
  /** the definition with the lowest AIC, or null when status is not ok or the best two are within 2 */
  bestByAic: NDefinition | null;
  heldOutMeasure: 'mean |ln L̂ − ln L| over runs, each predicted by the fit to the other runs';
  runs: number;
}

/** Fewest runs for which a comparison names a winner (leave-one-out fits then have ≥ 6 points). */
export const MIN_RUNS = 7;

function nOf(r: JourneyRun, d: NDefinition): number {
  return d === 'avg-nonzero' ? r.avgNonzero : d === 'final-nonzero' ? r.finalNonzero : r.dense;
}

/** Loss predicted by a chinchilla FitResult, full law or the one-token-budget sub-model. */
export function predictFromFit(f: FitResult, N: number, D: number): number {
  const p = f.params;
  if (Number.isFinite(p.E)) return predictLoss({ E: p.E, A: p.A, B: p.B, alpha: p.alpha, beta: p.beta }, N, D);
  if (Number.isFinite(p.K) && Number.isFinite(p.A)) return p.K + p.A / Math.pow(N, p.alpha);
  if (Number.isFinite(p.K) && Number.isFinite(p.B)) return p.K + p.B / Math.pow(D, p.beta);
  return NaN;
}

function aicOf(y: number[], pred: number[], k: number): number {
  let sse = 0;
  for (let i = 0; i < y.length; i++) sse += (pred[i] - y[i]) ** 2;
  return y.length * Math.log(Math.max(sse, 1e-300) / y.length) + 2 * k;
}

/**
 * Fits one Chinchilla law three ways (N = N̄, N_final, N_dense) to the runs' final losses and
 * compares them. `opts` go to every fit (bootstrap is ignored: the comparison needs point fits).
 * Leave-one-out refits start from the full fit's optimum and every 250th point of Epoch's grid (18).
 */
export async function compareNDefinitions(runs: readonly JourneyRun[], opts: ChinchillaOptions = {}): Promise<JourneyComparison> {
  runs.forEach((r, i) => {
    for (const k of ['avgNonzero', 'finalNonzero', 'dense', 'tokens', 'loss'] as const) {
      if (!(r[k] > 0) || !Number.isFinite(r[k])) throw new Error(`run ${r.id ?? i}: ${k} must be a positive number, got ${r[k]}`);
    }
  });
  const fitOpts: ChinchillaOptions = { ...opts, bootstrap: 0 };
  const y = runs.map((r) => r.loss);
  const looGrid = epochGrid().filter((_, i) => i % 250 === 0);
  const variants: JourneyVariant[] = [];
  for (const d of N_DEFINITIONS) {
    const points = runs.map((r) => ({ N: nOf(r, d), D: r.tokens, L: r.loss }));
    const fit = await fitChinchilla(points, fitOpts);
    const oneD = new Set(points.map((p) => p.D)).size === 1;
    const k = oneD ? 3 : 5;
    const usable = fit.status !== 'failed' && fit.status !== 'degenerate'
      && Number.isFinite(fit.params.A) && Number.isFinite(fit.params.alpha) && !fit.flags.A && !fit.flags.alpha;
    const pred = points.map((p) => predictFromFit(fit, p.N, p.D));
    const aic = fit.status === 'failed' ? NaN : aicOf(y, pred, k);
    const heldOut: JourneyVariant['heldOut'] = [];
    if (usable && runs.length >= MIN_RUNS) {
      for (let i = 0; i < runs.length; i++) {
        const rest = points.filter((_, j) => j !== i);
        const starts = fit.raw ? [fit.raw, ...looGrid] : undefined;
        const f = await fitChinchilla(rest, { ...fitOpts, ...(starts ? { starts } : {}) });
        heldOut.push({ runId: runs[i].id, loss: runs[i].loss, predicted: f.status === 'failed' ? NaN : predictFromFit(f, points[i].N, points[i].D) });
      }
    }
    const errs = heldOut.map((h) => Math.abs(Math.log(h.predicted) - Math.log(h.loss)));
    const heldOutLogError = errs.length > 0 && errs.every(Number.isFinite) ? errs.reduce((a, b) => a + b, 0) / errs.length : NaN;
    variants.push({ n: d, label: N_DEFINITION_LABEL[d], fit, k, aic, heldOutLogError, heldOut, usable });
  }
  const base = { variants, heldOutMeasure: 'mean |ln L̂ − ln L| over runs, each predicted by the fit to the other runs' as const, runs: runs.length };
  if (runs.length < MIN_RUNS) {
    return { ...base, status: 'failed', reason: `${runs.length} runs: a comparison needs at least ${MIN_RUNS} (leave-one-out fits of 5 parameters)`, bestByHeldOut: null, bestByAic: null, note: null };
  }
  const unusable = variants.filter((v) => !v.usable || !Number.isFinite(v.heldOutLogError));
  if (unusable.length > 0) {
    const why = unusable.map((v) => `N = ${v.n}: ${v.fit.status}${v.fit.reason ? ` (${v.fit.reason})` : ''}`).join('; ');
    return { ...base, status: 'not-identified', reason: `the N-dependence (A, α) is not identified for every definition of N, so no winner is named: ${why}`, bestByHeldOut: null, bestByAic: null, note: null };
  }
  const byHeld = [...variants].sort((a, b) => a.heldOutLogError - b.heldOutLogError);
  const byAic = [...variants].sort((a, b) => a.aic - b.aic);
  const aicGap = byAic[1].aic - byAic[0].aic;
  return {
    ...base, status: 'ok', reason: null,
    note: aicGap < 2 ? `AIC of ${byAic[0].n} and ${byAic[1].n} within 2 (${aicGap.toFixed(2)}): indistinguishable by AIC` : null,
    bestByHeldOut: byHeld[0].n, bestByAic: aicGap < 2 ? null : byAic[0].n,
  };
}

/** Short names of the definitions, as used in group keys and figures. */
export const JOURNEY_N_KEY: Record<NDefinition, string> = { 'avg-nonzero': 'N=N̄', 'final-nonzero': 'N=N_final', dense: 'N=N_dense' };

/** One line saying what a comparison found, or why it names no winner. */
export function journeyVerdictText(c: JourneyComparison): string {
  if (c.status !== 'ok') return `no winner named (${c.status}): ${c.reason ?? ''}`;
  const name = (n: NDefinition | null) => (n ? JOURNEY_N_KEY[n] : 'none');
  const held = `best by held-out error (${c.heldOutMeasure}): ${name(c.bestByHeldOut)}`;
  const aic = c.bestByAic ? `best by AIC: ${name(c.bestByAic)}` : `AIC names no winner${c.note ? ` (${c.note})` : ''}`;
  return `${held}; ${aic}`;
}
