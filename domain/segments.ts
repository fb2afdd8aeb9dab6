// Where a run's training is cut: eval points (where points and a checkpoint are committed)
// and segment boundaries (where one activity hands over to the next), always on an eval point.
import type { RunConfig } from './spec';

export function isEvalStep(step: number, config: RunConfig): boolean {
  return step % config.training.evalEvery === 0 || step === config.training.steps;
}

/** The first eval point at or after `from + segmentSteps` (capped at the last step). */
export function segmentEnd(from: number, segmentSteps: number, config: RunConfig): number {
  const { steps, evalEvery } = config.training;
  const want = Math.min(steps, from + Math.max(1, segmentSteps));
  return Math.min(steps, Math.ceil(want / evalEvery) * evalEvery);
}
