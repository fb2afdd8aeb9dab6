// Every query about runs and their training state: the rows the training activity and the
// bookkeeping activities read and write, and the per-run view the CLI shows.
import { sql } from 'kysely';
import type { Db } from './connect';
import { blobReferenced } from './ladders';
import type { RunStatus } from './schema';

/** The pointer row of a run's last committed checkpoint: the blob lives in a checkpoint store (stores/). */
export interface CheckpointPointer {
  step: number;
  uri: string;
  sha256: string;
  bytes: number;
}

/** A run the training activity is about to work on: its stored key and last committed checkpoint. */
export interface RunTrainingState {
  runKey: string;
  status: RunStatus;
  checkpoint: CheckpointPointer | null;
}

export async function loadTrainingState(db: Db, runId: string): Promise<RunTrainingState | null> {
  const run = await db.selectFrom('runs').select(['run_key', 'status']).where('id', '=', runId).executeTakeFirst();
  if (!run) return null;
  const ck = await db.selectFrom('checkpoints').select(['step', 'uri', 'sha256', 'bytes']).where('run_id', '=', runId).executeTakeFirst();
  return { runKey: run.run_key, status: run.status, checkpoint: ck ?? null };
}

/** Every attempt at a segment counts: a run that lost a worker shows more attempts than segments. */
export async function countAttempt(db: Db, runId: string): Promise<void> {
  await db.updateTable('runs').set({ attempts: sql`attempts + 1` }).where('id', '=', runId).execute();
}

export interface ModelRecord {
  backend: string;
  worker: string;
  totalParams: number;
  nonEmbeddingParams: number;
  linearParams: number;
}

/** What the first segment learns about a run: where it trains and how many parameters it has. */
export async function recordModel(db: Db, runId: string, m: ModelRecord): Promise<void> {
  await db
    .updateTable('runs')
    .set({
      backend: m.backend,
      worker: m.worker,
      total_params: m.totalParams,
      non_embedding_params: m.nonEmbeddingParams,
      linear_params: m.linearParams,
      updated_at: sql`now()`,
    })
    .where('id', '=', runId)
    .execute();
}

/**
 * Marks a run running and says how far its committed checkpoint got; `null` when the run is not
 * in the database. A finished run keeps its status (a late retry must not reopen it).
 */
export async function markRunStarted(db: Db, runId: string): Promise<{ stepsDone: number } | null> {
  const run = await db
    .updateTable('runs')
    .set({ status: 'running', started_at: sql`coalesce(started_at, now())`, updated_at: sql`now()`, error: null })
    .where('id', '=', runId)
    .where('status', 'in', ['pending', 'running'])
    .returning(['id'])
    .executeTakeFirst();
  if (!run) {
    const existing = await db.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirst();
    if (!existing) return null;
  }
  const ck = await db.selectFrom('checkpoints').select('step').where('run_id', '=', runId).executeTakeFirst();
  return { stepsDone: ck?.step ?? 0 };
}

/**
 * Final state of a run; a completed run keeps its state whatever arrives later. Returns its final
 * validation loss and, for a completed run, the URI of the checkpoint blob nobody needs any more.
 */
export async function markRunFinished(
  db: Db,
  runId: string,
  status: Exclude<RunStatus, 'pending' | 'running'>,
  error: string | null,
): Promise<{ finalValLoss: number | null; releasedBlob: string | null }> {
  const row = await db
    .updateTable('runs')
    .set({ status, error, finished_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', runId)
    .where('status', '!=', 'completed')
    .returning(['final_val_loss'])
    .executeTakeFirst();
  let releasedBlob: string | null = null;
  if (status === 'completed') {
    // Checkpoints serve resumption only; failed and cancelled runs keep theirs so they can be resumed.
    const ck = await db.deleteFrom('checkpoints').where('run_id', '=', runId).returning('uri').executeTakeFirst();
    // A trunk's blob may still be a branch point that a shorter budget has not taken yet.
    releasedBlob = ck && !(await blobReferenced(db, ck.uri)) ? ck.uri : null;
  }
  if (row) return { finalValLoss: row.final_val_loss, releasedBlob };
  const done = await db.selectFrom('runs').select('final_val_loss').where('id', '=', runId).executeTakeFirst();
  return { finalValLoss: done?.final_val_loss ?? null, releasedBlob };
}

/** Every blob URI a committed row names (run checkpoints and ladder branch points). */
export async function checkpointUris(db: Db): Promise<string[]> {
  const own = await db.selectFrom('checkpoints').select('uri').execute();
  const branch = await db.selectFrom('branch_checkpoints').select('uri').execute();
  return [...own, ...branch].map((r) => r.uri);
}

/** One row per run of a sweep, with its last stored activation ratio, in run order. */
export interface RunDetail {
  runId: string;
  label: string;
  status: RunStatus;
  progress: number;
  step: number;
  steps: number;
  valLoss: number | null;
  activationRatio: number | null;
  backend: string | null;
  worker: string | null;
  error: string | null;
  /** Token-budget ladder: the trunk this run branched from and the step (its points up to it are the trunk's). */
  branchOf: string | null;
  branchStep: number | null;
}

export async function runDetails(db: Db, sweepId: string): Promise<RunDetail[]> {
  const rows = await db
    .selectFrom('runs')
    .leftJoin(
      (eb) =>
        eb
          .selectFrom('run_points')
          .distinctOn('run_id')
          .select(['run_id', 'activation_ratio'])
          .orderBy('run_id')
          .orderBy('step', 'desc')
          .as('last'),
      (j) => j.onRef('last.run_id', '=', 'runs.id'),
    )
    .select([
      'runs.id',
      'runs.label',
      'runs.status',
      'runs.steps_done',
      'runs.steps_total',
      'runs.final_val_loss',
      'runs.backend',
      'runs.worker',
      'runs.error',
      'runs.branch_of',
      'runs.branch_step',
      'last.activation_ratio',
    ])
    .where('runs.sweep_id', '=', sweepId)
    .orderBy('runs.run_index')
    .execute();
  return rows.map((r) => ({
    runId: r.id,
    label: r.label,
    status: r.status,
    step: r.steps_done,
    steps: r.steps_total,
    progress: r.status === 'completed' ? 1 : Math.min(1, r.steps_done / Math.max(1, r.steps_total)),
    valLoss: r.final_val_loss,
    activationRatio: r.activation_ratio ?? null,
    backend: r.backend,
    worker: r.worker,
    error: r.error,
    branchOf: r.branch_of,
    branchStep: r.branch_step,
  }));
}
