// A sweep: each of its runs as a child RunWorkflow, at most maxParallel at once.
// Where the runs come from (`SweepInput.plan`):
// - absent: the grid, expanded by index (sweeps started before stored plans; kept so their
//   histories replay unchanged);
// - 'stored': the sweep's `pending` rows, in run-index order, read page by page through an
//   activity. Every execution since then (submit, retry, extend) uses it: a reused run is stored
//   completed and never launched, a retried run is pending again, an extension's new runs have
//   fresh indices after the existing ones.
import {
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import type { SweepActivities } from '../activities';
import { gridSize, runAt, runIdOf } from '../domain/grid';
import { hashJson } from '../domain/hash';
import { ladderInputAt } from '../domain/ladder';
import { RunWorkflow, type RunInput, type RunOutcome } from './run';
import { SA_ACTIVATION, SA_DMODEL, SA_PRUNING, SA_SEED, SA_SWEEP, SA_WIDTH_DEPTH } from './searchAttributes';
import { SWEEP_DEFAULTS } from '../domain/defaults';
import type { RunConfig, SweepSpec } from '../domain/spec';

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
  /** 'stored': launch the sweep's pending rows (see the top of this file); absent: the grid. */
  plan?: 'stored';
  /** Stored plan: the highest run index launched so far (carried across continue-as-new). */
  after?: number;
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

/** One run to launch: its index in the sweep, its row id and its configuration. */
interface RunToLaunch {
  index: number;
  runId: string;
  config: RunConfig;
}

/** Where one workflow run takes its runs from: `peek` the next, `advance` once it is launched. */
interface RunSource {
  /** The next run to launch, or undefined when this workflow run has launched its share. */
  peek(): Promise<RunToLaunch | undefined>;
  advance(): void;
  /** Whether runs are left for a continued workflow run. */
  more(): boolean;
  /** The input fields the continued workflow run starts from. */
  resume(): Pick<SweepInput, 'next' | 'after'>;
  started(): number;
  total(): number;
}

/** Runs read per `pendingRuns` activity (keeps each result far below the payload limit). */
const STORED_PAGE = 100;

function gridSource(input: SweepInput, batch: number): RunSource {
  const { sweepId, spec } = input;
  const total = gridSize(spec);
  let next = input.next ?? 0;
  const startedHere = next;
  return {
    peek: async () =>
      next < total && next - startedHere < batch ? { index: next, runId: runIdOf(sweepId, next), config: runAt(spec, next).config } : undefined,
    advance: () => void next++,
    more: () => next < total,
    resume: () => ({ next }),
    started: () => next,
    total: () => total,
  };
}

function storedSource(input: SweepInput, batch: number): RunSource {
  const { sweepId } = input;
  const before = input.next ?? 0;
  let after = input.after ?? -1;
  let launched = 0;
  let page: RunToLaunch[] = [];
  let remaining: number | undefined;
  let exhausted = false;
  return {
    async peek() {
      if (launched >= batch) return undefined;
      if (page.length === 0 && !exhausted) {
        const got = await book.pendingRuns({ sweepId, after, limit: Math.min(STORED_PAGE, batch - launched) });
        page = got.runs;
        remaining ??= got.remaining;
        exhausted = got.runs.length >= got.remaining;
      }
      return page[0];
    },
    advance() {
      const run = page.shift();
      if (run) after = run.index;
      launched++;
    },
    more: () => !(exhausted && page.length === 0),
    resume: () => ({ next: before + launched, after }),
    started: () => before + launched,
    total: () => before + (remaining ?? 0),
  };
}

/** The child's input; everything a run needs travels here (the row holds the same config). */
function runInput(spec: SweepSpec, sweepId: string, run: RunToLaunch): RunInput {
  return {
    sweepId,
    runId: run.runId,
    index: run.index,
    config: run.config,
    segmentSteps: spec.segmentSteps,
    heartbeatTimeoutSeconds: spec.heartbeatTimeoutSeconds,
    trainQueue: trainQueueOf(spec.taskQueue),
    ...(spec.checkpointStore ? { checkpointStore: spec.checkpointStore } : {}),
    // Ladders are planned on the grid: a run added later by `extend` (its index past the grid's, or
    // another configuration there) trains on its own.
    ...(run.index < gridSize(spec) && runAt(spec, run.index).key === hashJson(run.config) ? ladderInputAt(spec, sweepId, run.index) : {}),
  };
}

export async function SweepWorkflow(input: SweepInput): Promise<SweepProgress> {
  const { sweepId, spec } = input;
  const stored = input.plan === 'stored';
  const batch = input.batch ?? spec.continueAsNewEvery ?? SWEEP_DEFAULTS.continueAsNewEvery;
  const source = stored ? storedSource(input, batch) : gridSource(input, batch);
  const counts: SweepCounts = { ...(input.counts ?? { completed: 0, failed: 0, cancelled: 0 }) };
  let paused = input.paused ?? false;
  let running = 0;

  const progress = (): SweepProgress => ({ total: source.total(), started: source.started(), running, ...counts, paused });
  setHandler(pauseSignal, () => void (paused = true));
  setHandler(resumeSignal, () => void (paused = false));
  setHandler(progressQuery, progress);

  const launch = async (run: RunToLaunch): Promise<void> => {
    const m = run.config.model;
    let outcome: RunOutcome;
    try {
      const child = await startChild(RunWorkflow, {
        workflowId: run.runId,
        taskQueue: spec.taskQueue,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        // A retried run starts a new RunWorkflow under the id of its closed one (the SDK's
        // default too; stated because retry depends on it).
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: [
          { key: SA_SWEEP, value: sweepId },
          { key: SA_ACTIVATION, value: m.activation },
          { key: SA_WIDTH_DEPTH, value: m.dModel / m.nLayers },
          { key: SA_PRUNING, value: run.config.pruning.schedule },
          { key: SA_DMODEL, value: m.dModel },
          { key: SA_SEED, value: run.config.seed },
        ],
        args: [runInput(spec, sweepId, run)],
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
    for (let run = await source.peek(); run; run = await source.peek()) {
      // Wait for a free slot; a pause holds back new runs (running ones go on).
      for (;;) {
        if (paused) {
          await book.setSweepStatus({ sweepId, status: 'paused' });
          await condition(() => !paused);
          await book.setSweepStatus({ sweepId, status: 'running' });
        }
        await condition(() => paused || running < spec.maxParallel);
        if (!paused) break;
      }
      source.advance();
      running++;
      const p: Promise<void> = launch(run).finally(() => {
        running--;
        inFlight.delete(p);
      });
      inFlight.add(p);
      // Awaited by Promise.all below or on cancellation; never an unhandled rejection meanwhile.
      p.catch(() => undefined);
    }
    // Drain before continuing as new: children are awaited by the run that started them.
    await Promise.all(inFlight);
    if (source.more()) {
      await continueAsNew<typeof SweepWorkflow>({ ...input, ...source.resume(), counts, paused });
    }
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
    if (stored) {
      // After retries and extensions only the rows know every run's outcome.
      const c = await book.countRuns({ sweepId });
      await book.setSweepStatus({
        sweepId,
        status: c.completed > 0 || c.total === 0 ? 'completed' : 'failed',
        message: `${c.completed} completed${c.reused > 0 ? ` (${c.reused} reused)` : ''}, ${c.failed} failed, ${c.cancelled} cancelled${fitNote}`,
      });
    } else {
      await book.setSweepStatus({
        sweepId,
        status: counts.completed > 0 || source.total() === 0 ? 'completed' : 'failed',
        message: `${counts.completed} completed, ${counts.failed} failed, ${counts.cancelled} cancelled${fitNote}`,
      });
    }
    return progress();
  } catch (err) {
    // Continuing as new is no failure: marking the sweep failed here would settle (cancel) its
    // pending runs, which the stored plan would then never launch. The grid plan did so before
    // this patch (its launches ignore row status); `patched` keeps its older histories replaying.
    if (err instanceof ContinueAsNew && (stored || patched('continue-as-new-is-not-a-failure'))) throw err;
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

