// A sweep after its first execution: `retry` its failed or cancelled runs, `extend` its grid.
// Each opens a new workflow execution of the same sweep (`sweep-<id>-retry-<n>`,
// `sweep-<id>-extend-<n>`, n counting the sweep's executions) that launches the sweep's pending
// rows (workflows/sweep.ts, plan 'stored'); both are refused while an execution still runs.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/connect';
import { reopenRuns, reuseCompletedRuns, runsInStatus, setRunsStatus } from '../db/runs';
import { beginExecution, deleteRuns, findSweep, insertRuns, restoreSweepRow, runKeysOf } from '../db/sweeps';
import { UsageError } from '../domain/errors';
import { checkExtension } from '../domain/extend';
import { expandGrid, runIdOf } from '../domain/grid';
import type { SweepSpec } from '../domain/spec';
import { codeVersion } from '../engine/codeVersion';
import { SA_SWEEP } from '../workflows/searchAttributes';
import { SweepWorkflow } from '../workflows/sweep';
import { requireSweep, sweepWorkflowId } from './sweeps';

type SweepRow = NonNullable<Awaited<ReturnType<typeof findSweep>>>;

/** Refuses (UsageError) while the sweep's current workflow execution is still open. */
async function refuseWhileRunning(client: Client, sweep: SweepRow, action: string): Promise<void> {
  let running = false;
  try {
    running = (await client.workflow.getHandle(sweep.workflow_id).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  if (running) {
    throw new UsageError(
      `sweep ${sweep.id} is still running (workflow ${sweep.workflow_id}); wait for it (sparsity status ${sweep.id} --watch) ` +
        `or cancel it (sparsity cancel ${sweep.id}) before you ${action} it`,
    );
  }
}

async function startExecution(client: Client, sweepId: string, spec: SweepSpec, workflowId: string): Promise<void> {
  await client.workflow.start(SweepWorkflow, {
    workflowId,
    taskQueue: spec.taskQueue,
    args: [{ sweepId, spec, plan: 'stored' }],
    typedSearchAttributes: [{ key: SA_SWEEP, value: sweepId }],
  });
}

const changedMeanwhile = (sweepId: string) => new UsageError(`sweep ${sweepId} was retried or extended by someone else meanwhile; look at sparsity status ${sweepId}`);

export type RetryableStatus = 'failed' | 'cancelled';

export interface RetryResult {
  sweepId: string;
  workflowId: string;
  /** The runs put back to pending, in run order. */
  runs: string[];
}

/**
 * Restarts a finished sweep's failed and/or cancelled runs (only `runIds` when given) in a new
 * workflow execution: each resumes from its last checkpoint, keeps its points and its attempt
 * count; the sweep is `running` again and its laws are refitted over every completed run at the end.
 * Errors (UsageError): unknown sweep or run, a named run that is not failed/cancelled, nothing to
 * retry, the sweep still running.
 */
export async function retrySweep(db: Db, client: Client, sweepId: string, opts: { statuses: RetryableStatus[]; runIds?: string[] }): Promise<RetryResult> {
  const sweep = await requireSweep(db, sweepId);
  await refuseWhileRunning(client, sweep, 'retry');
  const all = await runsInStatus(db, sweepId, []);
  const statusOf = new Map(all.map((r) => [r.id, r.status]));
  for (const id of opts.runIds ?? []) {
    const status = statusOf.get(id);
    if (!status) throw new UsageError(`--run ${id}: no such run in sweep ${sweepId}`);
    if (status !== 'failed' && status !== 'cancelled') throw new UsageError(`--run ${id}: the run is ${status}; only failed or cancelled runs can be retried`);
  }
  const statuses: RetryableStatus[] = opts.runIds ? ['failed', 'cancelled'] : opts.statuses;
  const wanted = new Set(opts.runIds ?? []);
  const targets = all.filter((r) => (statuses as string[]).includes(r.status) && (!opts.runIds || wanted.has(r.id)));
  if (targets.length === 0) throw new UsageError(`sweep ${sweepId} has no ${statuses.join(' or ')} runs to retry`);

  const workflowId = `${sweepWorkflowId(sweepId)}-retry-${sweep.executions}`;
  const runs = await db.transaction().execute(async (tx) => {
    if (!(await beginExecution(tx, { sweepId, executions: sweep.executions, workflowId }))) throw changedMeanwhile(sweepId);
    return reopenRuns(tx, sweepId, statuses, opts.runIds);
  });
  try {
    await startExecution(client, sweepId, sweep.spec, workflowId);
  } catch (err) {
    await db.transaction().execute(async (tx) => {
      for (const status of ['failed', 'cancelled'] as const) {
        await setRunsStatus(tx, targets.filter((t) => t.status === status && runs.includes(t.id)).map((t) => t.id), status);
      }
      await restoreSweepRow(tx, sweep);
    });
    throw err;
  }
  return { sweepId, workflowId, runs };
}

export interface ExtendResult {
  sweepId: string;
  workflowId: string;
  /** Runs added to the sweep (fresh indices after the existing ones). */
  added: number;
  /** Of those, how many were copied from runs completed elsewhere. */
  reused: number;
  total: number;
}

/**
 * Adds grid values to a finished sweep: `next` must be its spec with grid values added
 * (domain/extend.ts says what else is refused). The runs of `next` not yet in the sweep (by
 * run_key) are stored with indices after the existing ones, so existing run ids never change;
 * with `reuse`, those completed elsewhere are copied instead of trained. A new workflow
 * execution trains the rest and refits the laws over every completed run.
 */
export async function extendSweep(db: Db, client: Client, sweepId: string, next: SweepSpec, opts: { reuse: boolean }): Promise<ExtendResult> {
  const sweep = await requireSweep(db, sweepId);
  checkExtension(sweep.spec, next);
  await refuseWhileRunning(client, sweep, 'extend');
  const { keys, maxIndex } = await runKeysOf(db, sweepId);
  const planned = expandGrid(next);
  const plannedKeys = new Set(planned.map((r) => r.key));
  const lost = [...keys].filter((k) => !plannedKeys.has(k)).length;
  if (lost > 0) {
    throw new UsageError(`extend: ${lost} stored run(s) of sweep ${sweepId} are not in the file's grid (did sizing or a default change since it was submitted?); refusing`);
  }
  const fresh = planned
    .filter((r) => !keys.has(r.key))
    .map((r, i) => ({ ...r, index: maxIndex + 1 + i, id: runIdOf(sweepId, maxIndex + 1 + i) }));
  if (fresh.length === 0) throw new UsageError(`extend: the file adds no runs to sweep ${sweepId} (every run of its grid is stored already)`);
  const total = keys.size + fresh.length;
  const workflowId = `${sweepWorkflowId(sweepId)}-extend-${sweep.executions}`;
  await db.transaction().execute(async (tx) => {
    if (!(await beginExecution(tx, { sweepId, executions: sweep.executions, workflowId, spec: next, total }))) throw changedMeanwhile(sweepId);
    await insertRuns(tx, sweepId, fresh);
  });
  let copied = 0;
  try {
    if (opts.reuse) copied = await reuseCompletedRuns(db, sweepId, codeVersion());
    await startExecution(client, sweepId, next, workflowId);
  } catch (err) {
    await db.transaction().execute(async (tx) => {
      await deleteRuns(tx, fresh.map((r) => r.id));
      await restoreSweepRow(tx, sweep);
    });
    throw err;
  }
  return { sweepId, workflowId, added: fresh.length, reused: copied, total };
}
