// Every query about sweeps: storing a submitted sweep with its runs, reading it back, and
// moving it between states.
import { sql } from 'kysely';
import type { PlannedRun } from '../domain/grid';
import type { SweepSpec } from '../domain/spec';
import type { Db } from './connect';
import { abandonRunningSegments } from './provenance';
import type { SweepStatus } from './schema';

export async function sweepExists(db: Db, sweepId: string): Promise<boolean> {
  return (await db.selectFrom('sweeps').select('id').where('id', '=', sweepId).executeTakeFirst()) !== undefined;
}

export async function findSweep(db: Db, sweepId: string) {
  return db.selectFrom('sweeps').selectAll().where('id', '=', sweepId).executeTakeFirst();
}

export async function recentSweepIds(db: Db, limit: number): Promise<string[]> {
  return (await db.selectFrom('sweeps').select('id').orderBy('created_at', 'desc').limit(limit).execute()).map((r) => r.id);
}

/**
 * Stores a sweep and all its runs (status `pending`) in one transaction. `runAt(i)` yields run i
 * with its id; runs are inserted 1,000 rows at a time so a 100,000-run grid stays within the
 * protocol's bind-parameter limit.
 */
function runRow(sweepId: string, run: PlannedRun & { id: string }) {
  return {
    id: run.id,
    sweep_id: sweepId,
    run_index: run.index,
    run_key: run.key,
    label: run.label,
    config: JSON.stringify(run.config),
    status: 'pending' as const,
    backend: null,
    worker: null,
    total_params: null,
    non_embedding_params: null,
    linear_params: null,
    avg_nonzero_params: null,
    steps_total: run.config.training.steps,
    final_train_loss: null,
    final_val_loss: null,
    error: null,
    started_at: null,
    finished_at: null,
  };
}

export async function insertSweep(
  db: Db,
  sweep: { id: string; spec: SweepSpec; workflowId: string; total: number },
  runAt: (index: number) => PlannedRun & { id: string },
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto('sweeps')
      .values({
        id: sweep.id,
        name: sweep.spec.name,
        spec: JSON.stringify(sweep.spec),
        status: 'running',
        task_queue: sweep.spec.taskQueue,
        total_runs: sweep.total,
        workflow_id: sweep.workflowId,
        message: null,
        finished_at: null,
      })
      .execute();
    const chunk = 1000;
    for (let start = 0; start < sweep.total; start += chunk) {
      const rows = [];
      for (let i = start; i < Math.min(sweep.total, start + chunk); i++) {
        rows.push(runRow(sweep.id, runAt(i)));
      }
      await tx.insertInto('runs').values(rows).execute();
    }
  });
}

/** Removes a sweep and (by cascade) its runs: only for a sweep whose workflow never started. */
export async function deleteSweep(db: Db, sweepId: string): Promise<void> {
  await db.deleteFrom('sweeps').where('id', '=', sweepId).execute();
}

/**
 * Sets a sweep's status. With `settleRuns` (the sweep will never run anything again: cancelled,
 * or its workflow failed) its pending and running runs are marked cancelled in the same transaction.
 */
export async function setSweepStatus(
  db: Db,
  input: { sweepId: string; status: SweepStatus; message?: string; settleRuns?: boolean },
): Promise<void> {
  const finished = input.status === 'completed' || input.status === 'failed' || input.status === 'cancelled';
  await db.transaction().execute(async (tx) => {
    await tx
      .updateTable('sweeps')
      .set({ status: input.status, message: input.message ?? null, finished_at: finished ? sql`now()` : null })
      .where('id', '=', input.sweepId)
      .execute();
    if (input.settleRuns) {
      await tx
        .updateTable('runs')
        .set({
          status: 'cancelled',
          error: input.status === 'cancelled' ? 'sweep cancelled' : 'sweep workflow failed',
          finished_at: sql`now()`,
          updated_at: sql`now()`,
        })
        .where('sweep_id', '=', input.sweepId)
        .where('status', 'in', ['pending', 'running'])
        .execute();
      // Their segments too (a slot that is still alive reports `cancelled` over this when it stops).
      await abandonRunningSegments(tx, { sweepId: input.sweepId });
    }
  });
}

/** Pause/resume as the CLI requested it; never reopens a sweep that has just finished. */
export async function setSweepPaused(db: Db, sweepId: string, paused: boolean): Promise<void> {
  await db
    .updateTable('sweeps')
    .set({ status: paused ? 'paused' : 'running' })
    .where('id', '=', sweepId)
    .where('status', 'in', ['running', 'paused'])
    .execute();
}

/** Seconds spent training and measuring, summed over a sweep's runs. */
export async function sweepComputeSeconds(db: Db, sweepId: string): Promise<{ train: number; measure: number }> {
  const sums = await db
    .selectFrom('runs')
    .select((eb) => [eb.fn.sum<number>('train_seconds').as('train'), eb.fn.sum<number>('measure_seconds').as('measure')])
    .where('sweep_id', '=', sweepId)
    .executeTakeFirstOrThrow();
  return { train: Number(sums.train), measure: Number(sums.measure) };
}

/** Each run's last point with its configuration columns (the `final_points` view), in run order. */
export async function finalPoints(db: Db, sweepId: string) {
  return db
    .selectFrom('final_points')
    .select(['label', 'activation', 'd_model', 'n_layers', 'pruning', 'last_step', 'val_loss', 'metric', 'activation_ratio', 'dead_ratio', 'avg_nonzero_params'])
    .where('sweep_id', '=', sweepId)
    .orderBy('run_id')
    .execute();
}

/**
 * Opens a further workflow execution of a sweep (retry, extend): status `running`, the new
 * workflow id, `executions` + 1, and for an extension the new spec and run count. Guarded by the
 * execution count read before: returns false when another execution began meanwhile.
 */
export async function beginExecution(
  db: Db,
  input: { sweepId: string; executions: number; workflowId: string; spec?: SweepSpec; total?: number },
): Promise<boolean> {
  const row = await db
    .updateTable('sweeps')
    .set({
      status: 'running',
      message: null,
      finished_at: null,
      workflow_id: input.workflowId,
      executions: input.executions + 1,
      ...(input.spec ? { spec: JSON.stringify(input.spec) } : {}),
      ...(input.total !== undefined ? { total_runs: input.total } : {}),
    })
    .where('id', '=', input.sweepId)
    .where('executions', '=', input.executions)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Puts a sweep row back as it was before `beginExecution` (its workflow could not start). */
export async function restoreSweepRow(
  db: Db,
  before: { id: string; status: SweepStatus; message: string | null; workflow_id: string; executions: number; spec: SweepSpec; total_runs: number; finished_at: Date | null },
): Promise<void> {
  await db
    .updateTable('sweeps')
    .set({
      status: before.status,
      message: before.message,
      workflow_id: before.workflow_id,
      executions: before.executions,
      spec: JSON.stringify(before.spec),
      total_runs: before.total_runs,
      finished_at: before.finished_at,
    })
    .where('id', '=', before.id)
    .execute();
}

/** Adds runs (status `pending`) to an existing sweep; their indices follow the existing ones. */
export async function insertRuns(db: Db, sweepId: string, runs: (PlannedRun & { id: string })[]): Promise<void> {
  for (let start = 0; start < runs.length; start += 1000) {
    await db.insertInto('runs').values(runs.slice(start, start + 1000).map((r) => runRow(sweepId, r))).execute();
  }
}

/** The stored keys of a sweep's runs and the highest run index. */
export async function runKeysOf(db: Db, sweepId: string): Promise<{ keys: Set<string>; maxIndex: number }> {
  const rows = await db.selectFrom('runs').select(['run_key', 'run_index']).where('sweep_id', '=', sweepId).execute();
  return { keys: new Set(rows.map((r) => r.run_key)), maxIndex: rows.reduce((m, r) => Math.max(m, r.run_index), -1) };
}

/** Removes runs an extension added (its workflow could not start; reused copies go too). */
export async function deleteRuns(db: Db, runIds: string[]): Promise<void> {
  for (let start = 0; start < runIds.length; start += 1000) {
    await db.deleteFrom('runs').where('id', 'in', runIds.slice(start, start + 1000)).execute();
  }
}
