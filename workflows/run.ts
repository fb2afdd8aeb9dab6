// One training run: segments of training through activities until the step budget is spent.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setHandler,
  defineQuery,
  log,
} from '@temporalio/workflow';
import type { SweepActivities } from '../activities';
import { segmentEnd } from '../domain/segments';
import type { BranchPoint } from '../domain/ladder';
import type { RunConfig } from '../domain/spec';

export interface RunInput {
  sweepId: string;
  runId: string;
  index: number;
  config: RunConfig;
  segmentSteps: number;
  heartbeatTimeoutSeconds: number;
  /** Task queue of the training slots (one activity at a time per slot). */
  trainQueue: string;
  /** The sweep's checkpoint store, when its file names one (else each worker's default). */
  checkpointStore?: string;
  /** Token-budget ladder (domain/ladder.ts): this run branches from `trunkRunId` at `fromStep`. */
  branch?: { trunkRunId: string; fromStep: number };
  /** Token-budget ladder: this run is a trunk; keep its checkpoint at these steps for its branches. */
  branchPoints?: BranchPoint[];
}

export type RunOutcome = { status: 'completed'; finalValLoss: number } | { status: 'failed' | 'cancelled'; reason: string };

export const runProgressQuery = defineQuery<{ step: number; steps: number }>('progress');

const book = proxyActivities<SweepActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 30 },
});

// Waiting for a trunk lasts as long as the trunk trains up to the branch point: each attempt checks
// once, and the retries between attempts (at most 10 s apart) add nothing to the history.
const ladder = proxyActivities<SweepActivities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '30 days',
  retry: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '10s' },
});

export async function RunWorkflow(input: RunInput): Promise<RunOutcome> {
  const steps = input.config.training.steps;
  // Training may be slow but must keep heartbeating: a silent worker is presumed dead and
  // the segment is retried elsewhere, from the last committed checkpoint.
  const train = proxyActivities<SweepActivities>({
    taskQueue: input.trainQueue,
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: input.heartbeatTimeoutSeconds * 1000,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20 },
  });
  let step = 0;
  setHandler(runProgressQuery, () => ({ step, steps }));

  try {
    step = (await book.startRun({ runId: input.runId })).stepsDone;
    if (input.branch && step === 0) {
      // Only branched runs take this path, so histories of runs without a ladder replay unchanged.
      const b = await ladder.branchFromTrunk({ runId: input.runId, ...input.branch });
      if (b.branched) step = b.stepsDone;
      else log.warn(`${input.runId} trains from scratch: ${b.reason}`);
    }
    const branchPoints = input.branchPoints ? { branchPoints: input.branchPoints } : {};
    while (step < steps) {
      const target = segmentEnd(step, input.segmentSteps, input.config);
      const segment = await train.trainSegment({
        runId: input.runId,
        config: input.config,
        toStep: target,
        ...branchPoints,
        ...(input.checkpointStore ? { checkpointStore: input.checkpointStore } : {}),
      });
      step = segment.step;
      if (segment.diverged) {
        await book.finishRun({ runId: input.runId, status: 'failed', error: segment.diverged });
        return { status: 'failed', reason: segment.diverged };
      }
    }
    const { finalValLoss } = await book.finishRun({ runId: input.runId, status: 'completed' });
    return { status: 'completed', finalValLoss: finalValLoss ?? NaN };
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() =>
        book.finishRun({ runId: input.runId, status: 'cancelled', error: 'sweep cancelled' }),
      );
      throw err;
    }
    // Out of retries (or a non-retryable error): the run failed, the sweep goes on.
    const reason = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
    await book.finishRun({ runId: input.runId, status: 'failed', error: reason });
    if (err instanceof ApplicationFailure || err instanceof ActivityFailure) return { status: 'failed', reason };
    throw err;
  }
}
