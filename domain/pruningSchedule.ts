// The pruning schedule as pure arithmetic: no tfjs, no I/O, so workflow code may import it.
//
// Step convention: `step` is the number of optimiser steps completed, 0 ≤ step ≤ T. The trainer asks
// `isPruneStep(cfg, step, T)` before taking optimiser step `step` and, when true, sets the masks to
// `sparsityAt(cfg, step, T)`; those masks hold while steps `step, step+1, …` train, until the next
// prune step. Pruning runs between t0 = round(start·T) and t1 = round(end·T), with t1 clamped to
// T − 1 so that `end = 1` still reaches `finalSparsity` before the last optimiser step.
import type { PruningConfig } from './spec';

export interface PruneWindow {
  /** First step at which the schedule moves away from `initialSparsity`. */
  t0: number;
  /** Step at which `finalSparsity` is reached (always a prune step). */
  t1: number;
}

/** The integer window [t0, t1] of a schedule over `totalSteps` optimiser steps. */
export function pruneWindow(cfg: PruningConfig, totalSteps: number): PruneWindow {
  const T = Math.max(1, Math.floor(totalSteps));
  const last = T - 1;
  const t1 = Math.min(last, Math.max(0, Math.round(cfg.end * T)));
  const t0 = Math.min(t1, Math.max(0, Math.round(cfg.start * T)));
  return { t0, t1 };
}

/** Target weight sparsity at `step`: `initialSparsity` before t0, `finalSparsity` from t1 on.
 *  - `cubic` (Zhu & Gupta 2017): s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(t1 − t0))³
 *  - `linear`: s_t = s_i + (s_f − s_i)·(t − t0)/(t1 − t0)
 *  - `oneshot`: s_f from t0 on
 *  - `none`: always 0. */
export function sparsityAt(cfg: PruningConfig, step: number, totalSteps: number): number {
  if (cfg.schedule === 'none') return 0;
  const { t0, t1 } = pruneWindow(cfg, totalSteps);
  const si = cfg.initialSparsity;
  const sf = cfg.finalSparsity;
  if (step < t0) return si;
  if (step >= t1 || cfg.schedule === 'oneshot') return sf;
  const x = (step - t0) / (t1 - t0);
  switch (cfg.schedule) {
    case 'cubic':
      return sf + (si - sf) * (1 - x) ** 3;
    case 'linear':
      return si + (sf - si) * x;
  }
}

/** Whether the masks are recomputed before optimiser step `step`: every `every` steps from t0 inside
 *  [t0, t1], and exactly at t1 (so `finalSparsity` is always reached). `oneshot` prunes once, at t0.
 *  When `initialSparsity > 0` and t0 > 0, step 0 is also a prune step, so the masks hold `s_i` before
 *  t0 as `sparsityAt` says. */
export function isPruneStep(cfg: PruningConfig, step: number, totalSteps: number): boolean {
  if (cfg.schedule === 'none') return false;
  if (!Number.isInteger(step) || step < 0) return false;
  const { t0, t1 } = pruneWindow(cfg, totalSteps);
  if (step === 0 && cfg.initialSparsity > 0) return true;
  if (cfg.schedule === 'oneshot') return step === t0;
  if (step < t0 || step > t1) return false;
  if (step === t1) return true;
  const every = Math.max(1, Math.floor(cfg.every));
  return (step - t0) % every === 0;
}

/** The sparsity the masks actually hold while optimiser step `step` trains: that of the last prune
 *  step ≤ `step` (0 before any). This is the piecewise-constant version of `sparsityAt`. */
export function maskSparsityAt(cfg: PruningConfig, step: number, totalSteps: number): number {
  if (cfg.schedule === 'none') return 0;
  const { t0, t1 } = pruneWindow(cfg, totalSteps);
  const s = Math.floor(step);
  if (s < t0) return cfg.initialSparsity > 0 ? cfg.initialSparsity : 0;
  if (cfg.schedule === 'oneshot' || s >= t1) return sparsityAt(cfg, s, totalSteps);
  const every = Math.max(1, Math.floor(cfg.every));
  const last = t0 + Math.floor((s - t0) / every) * every;
  return sparsityAt(cfg, last, totalSteps);
}

/** Mean over training of the density 1 − s_t of the continuous schedule, in closed form:
 *  (1/T)·[t0·(1 − s_i) + ∫_{t0}^{t1} (1 − s_t) dt + (T − t1)·(1 − s_f)], where the integral of s_t over
 *  the window is (t1 − t0)·(s_f + (s_i − s_f)/4) for cubic, (t1 − t0)·(s_i + s_f)/2 for linear and
 *  (t1 − t0)·s_f for oneshot. Multiply by the prunable parameter count to predict N̄ (Jin et al. 2025);
 *  the stepwise masks (`maskSparsityAt`) lag the curve by at most `every` steps, so their mean density
 *  is slightly higher, by O(every / T). */
export function expectedAverageDensity(cfg: PruningConfig, totalSteps: number): number {
  if (cfg.schedule === 'none') return 1;
  const T = Math.max(1, Math.floor(totalSteps));
  const { t0, t1 } = pruneWindow(cfg, T);
  const si = cfg.initialSparsity;
  const sf = cfg.finalSparsity;
  const w = t1 - t0;
  let windowSparsity: number;
  switch (cfg.schedule) {
    case 'cubic':
      windowSparsity = w * (sf + (si - sf) / 4);
      break;
    case 'linear':
      windowSparsity = (w * (si + sf)) / 2;
      break;
    case 'oneshot':
      windowSparsity = w * sf;
      break;
  }
  const sparsityIntegral = t0 * si + windowSparsity + (T - t1) * sf;
  return 1 - sparsityIntegral / T;
}
