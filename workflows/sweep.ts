// A sweep: every run of the grid as a child RunWorkflow, at most maxParallel at once.
import {
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
  ParentClosePolicy,
  patched,
} from '@temporalio/workflow';
import type { SweepActivities } from '../activities';
import { gridSize, runAt, runIdOf } from '../domain/grid';
import { ladderInputAt } from '../domain/ladder';
import { RunWorkflow, type RunOutcome } from './run';
import { SA_ACTIVATION, SA_DMODEL, SA_PRUNING, SA_SEED, SA_SWEEP, SA_WIDTH_DEPTH } from './searchAttributes';
import { SWEEP_DEFAULTS } from '../domain/defaults';
import type { SweepSpec } from '../domain/spec';

export interface SweepCounts {
  completed: number;
  failed: number;
  cancelled: number;
}

export interface SweepInput {
  sweepId: string;
  spec: SweepSpec;
  /** Carried across continue-as-new. */
  next?: number;
  counts?: SweepCounts;
  paused?: boolean;
  /** Runs started per workflow run before continuing as new (keeps history short). */
  batch?: number;
}

export interface SweepProgress {
  total: number;
  started: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  paused: boolean;
}

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const progressQuery = defineQuery<SweepProgress>('progress');

const book = proxyActivities<SweepActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 50 },
});
const analysis = proxyActivities<SweepActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

export function trainQueueOf(taskQueue: string): string {
  return `${taskQueue}.train`;
}

export async function SweepWorkflow(input: SweepInput): Promise<SweepProgress> {
  const { sweepId, spec } = input;
  const total = gridSize(spec);
  const batch = input.batch ?? spec.continueAsNewEvery ?? SWEEP_DEFAULTS.continueAsNewEvery;
  const counts: SweepCounts = { ...(input.counts ?? { completed: 0, failed: 0, cancelled: 0 }) };
  let next = input.next ?? 0;
  let paused = input.paused ?? false;
  let running = 0;
  const startedHere = next;

  const progress = (): SweepProgress => ({ total, started: next, running, ...counts, paused });
  setHandler(pauseSignal, () => void (paused = true));
  setHandler(resumeSignal, () => void (paused = false));
  setHandler(progressQuery, progress);

  const launch = async (index: number): Promise<void> => {
    const run = runAt(spec, index);
    const runId = runIdOf(sweepId, index);
    const m = run.config.model;
    let outcome: RunOutcome;
    try {
      const child = await startChild(RunWorkflow, {
        workflowId: runId,
        taskQueue: spec.taskQueue,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [
          { key: SA_SWEEP, value: sweepId },
          { key: SA_ACTIVATION, value: m.activation },
          { key: SA_WIDTH_DEPTH, value: m.dModel / m.nLayers },
          { key: SA_PRUNING, value: run.config.pruning.schedule },
          { key: SA_DMODEL, value: m.dModel },
          { key: SA_SEED, value: run.config.seed },
        ],
        args: [
          {
            sweepId,
            runId,
            index,
            config: run.config,
            segmentSteps: spec.segmentSteps,
            heartbeatTimeoutSeconds: spec.heartbeatTimeoutSeconds,
            trainQueue: trainQueueOf(spec.taskQueue),
            ...(spec.checkpointStore ? { checkpointStore: spec.checkpointStore } : {}),
            ...ladderInputAt(spec, sweepId, index),
          },
        ],
      });
      outcome = await child.result();
    } catch (err) {
      // Only the sweep's own cancellation stops the sweep; a run cancelled by itself (web UI,
      // `temporal workflow cancel`) is one cancelled run.
      if (CancellationScope.current().consideredCancelled) throw err;
      if (!(err instanceof ChildWorkflowFailure)) throw err;
      outcome = isCancellation(err.cause) ? { status: 'cancelled', reason: 'cancelled' } : { status: 'failed', reason: err.message };
    }
    counts[outcome.status]++;
  };

  try {
    await book.setSweepStatus({ sweepId, status: paused ? 'paused' : 'running' });
    const inFlight = new Set<Promise<void>>();
    while (next < total && next - startedHere < batch) {
      if (paused) {
        await book.setSweepStatus({ sweepId, status: 'paused' });
        await condition(() => !paused);
        await book.setSweepStatus({ sweepId, status: 'running' });
      }
      await condition(() => paused || running < spec.maxParallel);
      if (paused) continue;
      const index = next++;
      running++;
      const p: Promise<void> = launch(index).finally(() => {
        running--;
        inFlight.delete(p);
      });
      inFlight.add(p);
      // Awaited by Promise.all below or on cancellation; never an unhandled rejection meanwhile.
      p.catch(() => undefined);
    }
    // Drain before continuing as new: children are awaited by the run that started them.
    await Promise.all(inFlight);
    if (next < total) {
      await continueAsNew<typeof SweepWorkflow>({ ...input, next, counts, paused });
    }
    const status = counts.completed > 0 || total === 0 ? 'completed' : 'failed';
    let fitNote = '';
    try {
      const fits = await analysis.fitSweep({ sweepId });
      fitNote = `; ${fits.length} laws fitted`;
    } catch (err) {
      // The runs are stored whatever happens here; `sparsity fit` can redo this later.
      if (isCancellation(err)) throw err;
      fitNote = `; fitting failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    // Blobs no committed checkpoint points to (a worker died between upload and commit) go now,
    // past their grace period. Histories recorded before this step existed replay without it.
    if (patched('checkpoint-gc-at-sweep-end')) {
      await analysis.collectCheckpointGarbage({ sweepId }).catch((err: unknown) => {
        if (isCancellation(err)) throw err;
      });
    }
    await book.setSweepStatus({
      sweepId,
      status,
      message: `${counts.completed} completed, ${counts.failed} failed, ${counts.cancelled} cancelled${fitNote}`,
    });
    return progress();
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() =>
        book.setSweepStatus({ sweepId, status: 'cancelled', message: 'cancelled by request' }),
      );
    } else {
      // The stored state must not say "running" for a sweep whose workflow failed.
      const message = `sweep workflow failed: ${err instanceof Error ? err.message : String(err)}`;
      await CancellationScope.nonCancellable(() => book.setSweepStatus({ sweepId, status: 'failed', message, settleRuns: true })).catch(() => undefined);
    }
    throw err;
  }
}

