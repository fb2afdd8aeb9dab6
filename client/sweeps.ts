// What the CLI does to sweeps: submit, inspect, steer. Data out, no printing here.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/connect';
import { reuseCompletedRuns, runDetails, type RunDetail } from '../db/runs';
import { ladderSavings, type LadderSavings } from '../db/ladders';
import { codeVersion } from '../engine/codeVersion';
import { fitStatuses, type FitStatusRow } from '../db/fits';
import type { RunStatus } from '../db/schema';
import { deleteSweep, findSweep, insertSweep, recentSweepIds, setSweepPaused, setSweepStatus, sweepExists } from '../db/sweeps';
import { gridSize, runAt, runIdOf } from '../domain/grid';
import { SA_SWEEP } from '../workflows/searchAttributes';
import type { SweepSpec } from '../domain/spec';
import { SweepWorkflow, pauseSignal, progressQuery, resumeSignal, trainQueueOf, type SweepProgress } from '../workflows/sweep';
import { UsageError } from '../domain/errors';

export function sweepWorkflowId(sweepId: string): string {
  return `sweep-${sweepId}`;
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

async function freshSweepId(db: Db, name: string): Promise<string> {
  const base = `${name}-${stamp(new Date())}`;
  for (let i = 0; ; i++) {
    const id = i === 0 ? base : `${base}-${i + 1}`;
    if (!(await sweepExists(db, id))) return id;
  }
}

/** Whether any worker polls the sweep's queues; a sweep nobody serves would wait silently. */
export async function queueHasPollers(client: Client, taskQueue: string): Promise<{ workflows: boolean; training: boolean }> {
  const has = async (name: string, kind: 1 | 2) => {
    const r = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name, kind: 1 },
      taskQueueType: kind,
    });
    return (r.pollers ?? []).length > 0;
  };
  return { workflows: await has(taskQueue, 1), training: await has(trainQueueOf(taskQueue), 2) };
}

export interface SubmitResult {
  sweepId: string;
  runs: number;
  /** Runs copied from runs completed elsewhere (same run_key and code version), not trained. */
  reused: number;
  workflowId: string;
}

/**
 * Stores the sweep and its runs, then starts the workflow; a failed start leaves nothing behind.
 * With `reuse` (the CLI's default; off here so benchmarks and tests train what they submit), runs
 * completed elsewhere with the same run_key and code version are copied (db/runs.ts
 * reuseCompletedRuns) and the workflow skips them.
 */
export async function submitSweep(db: Db, client: Client, spec: SweepSpec, opts: { reuse?: boolean } = {}): Promise<SubmitResult> {
  const sweepId = await freshSweepId(db, spec.name);
  const workflowId = sweepWorkflowId(sweepId);
  const total = gridSize(spec);
  await insertSweep(db, { id: sweepId, spec, workflowId, total }, (i) => ({ ...runAt(spec, i), id: runIdOf(sweepId, i) }));
  let reused = 0;
  try {
    if (opts.reuse) reused = await reuseCompletedRuns(db, sweepId, codeVersion());
    await client.workflow.start(SweepWorkflow, {
      workflowId,
      taskQueue: spec.taskQueue,
      args: [{ sweepId, spec, plan: 'stored' }],
      typedSearchAttributes: [{ key: SA_SWEEP, value: sweepId }],
    });
  } catch (err) {
    await deleteSweep(db, sweepId);
    throw err;
  }
  return { sweepId, runs: total, reused, workflowId };
}

export type { RunDetail };

export interface SweepStatusReport {
  sweepId: string;
  name: string;
  status: string;
  message: string | null;
  paused: boolean;
  runs: { total: number; completed: number; running: number; failed: number; cancelled: number; pending: number };
  /** Completed runs copied from another sweep (counted in runs.completed too). */
  reused: number;
  runsDetail: RunDetail[];
  /** Steps trained against steps if every run trained from scratch (token-budget ladders save the difference). */
  compute: LadderSavings;
  /** the sweep's stored fits: law, group, status (ok | not-identified | degenerate | failed) and reason */
  fits: FitStatusRow[];
}

export async function requireSweep(db: Db, sweepId: string) {
  const sweep = await findSweep(db, sweepId);
  if (!sweep) {
    const recent = await recentSweepIds(db, 5);
    const hint = recent.length ? ` (recent sweeps: ${recent.join(', ')})` : '';
    throw new UsageError(`no sweep with id "${sweepId}"${hint}`);
  }
  return sweep;
}

export async function sweepStatus(db: Db, client: Client | undefined, sweepId: string): Promise<SweepStatusReport> {
  const sweep = await requireSweep(db, sweepId);
  const runsDetail = await runDetails(db, sweepId);
  const count = (s: RunStatus) => runsDetail.filter((r) => r.status === s).length;
  let paused = sweep.status === 'paused';
  if (client && (sweep.status === 'running' || sweep.status === 'paused')) {
    try {
      const p: SweepProgress = await client.workflow.getHandle(sweep.workflow_id).query(progressQuery);
      paused = p.paused;
    } catch {
      /* the workflow may be between runs (continue-as-new); the database answer stands */
    }
  }
  return {
    sweepId,
    name: sweep.name,
    status: paused && sweep.status === 'running' ? 'paused' : sweep.status,
    message: sweep.message,
    paused,
    runs: {
      total: sweep.total_runs,
      completed: count('completed'),
      running: count('running'),
      failed: count('failed'),
      cancelled: count('cancelled'),
      pending: count('pending'),
    },
    reused: runsDetail.filter((r) => r.reusedFrom !== null && r.status === 'completed').length,
    runsDetail,
    compute: await ladderSavings(db, sweepId),
    fits: await fitStatuses(db, sweepId),
  };
}

export async function signalSweep(db: Db, client: Client, sweepId: string, action: 'pause' | 'resume' | 'cancel'): Promise<void> {
  const sweep = await requireSweep(db, sweepId);
  if (['completed', 'failed', 'cancelled'].includes(sweep.status)) {
    throw new UsageError(`sweep ${sweepId} is already ${sweep.status}; nothing to ${action}`);
  }
  const handle = client.workflow.getHandle(sweep.workflow_id);
  try {
    if (action === 'pause') await handle.signal(pauseSignal);
    else if (action === 'resume') await handle.signal(resumeSignal);
    else await handle.cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    if (action !== 'cancel') throw new UsageError(`sweep ${sweepId} has no running workflow (${sweep.workflow_id})`);
    // The workflow is gone but the rows say otherwise: settle them.
    await setSweepStatus(db, { sweepId, status: 'cancelled', message: 'cancelled (its workflow had already closed)', settleRuns: true });
  }
  if (action !== 'cancel') await setSweepPaused(db, sweepId, action === 'pause');
}

/**
 * Cancels a sweep: the workflow cancels its runs, which stop within the heartbeat timeout.
 * If nothing processes the request in `graceMs` (no worker serves the queue), the workflow is
 * terminated and its runs are marked cancelled here, so a cancel never hangs.
 */
export async function cancelSweep(db: Db, client: Client, sweepId: string, graceMs: number): Promise<SweepStatusReport> {
  const sweep = await requireSweep(db, sweepId);
  await signalSweep(db, client, sweepId, 'cancel');
  const handle = client.workflow.getHandle(sweep.workflow_id);
  if ((await requireSweep(db, sweepId)).status === 'cancelled') return sweepStatus(db, undefined, sweepId);
  const closed = await Promise.race([
    handle.result().then(
      () => true,
      () => true,
    ),
    new Promise<false>((r) => setTimeout(() => r(false), graceMs)),
  ]);
  if (!closed) {
    await handle.terminate('cancel requested but no worker processed it').catch(() => undefined);
    await setSweepStatus(db, { sweepId, status: 'cancelled', message: 'cancelled (terminated: no worker processed the request)', settleRuns: true });
  } else {
    // The workflow's own status update may still be in flight.
    await until(async () => (await requireSweep(db, sweepId)).status === 'cancelled', 10_000);
  }
  return sweepStatus(db, undefined, sweepId);
}

async function until(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
}

/** Waits until the sweep workflow closes; `onTick` sees the status every `everyMs`. */
export async function waitForSweep(
  db: Db,
  client: Client,
  sweepId: string,
  onTick?: (s: SweepStatusReport) => void,
  everyMs = 2000,
): Promise<SweepStatusReport> {
  const sweep = await requireSweep(db, sweepId);
  const handle = client.workflow.getHandle(sweep.workflow_id);
  const result = handle.result().then(
    () => undefined,
    () => undefined,
  );
  let done = false;
  void result.then(() => (done = true));
  while (!done) {
    if (onTick) onTick(await sweepStatus(db, undefined, sweepId));
    await Promise.race([result, new Promise((r) => setTimeout(r, everyMs))]);
  }
  // The workflow's last act is the status update; read it back.
  return sweepStatus(db, undefined, sweepId);
}

