// Every query about runs and their training state: the rows the training activity and the
// bookkeeping activities read and write, and the per-run view the CLI shows.
import { sql } from 'kysely';
import type { Db } from './connect';
import { blobReferenced } from './ladders';
import { abandonRunningSegments } from './provenance';
import type { RunConfig } from '../domain/spec';
import type { RunStatus } from './schema';
import type { DeviceInfo } from '../engine/types';

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
  /** engine/codeVersion.ts of the worker: what reuse compares. */
  codeVersion: string;
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
      code_version: m.codeVersion,
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
  // The run is over: a segment its killed or lost worker never finished says so.
  await abandonRunningSegments(db, { runId });
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
  /** The run whose stored results this one copied; null when trained in this sweep. */
  reusedFrom: string | null;
  attempts: number;
  /** Where the first segment trained, and the build that trained it (db/provenance.ts). */
  device: DeviceInfo | null;
  buildId: string | null;
  /** Its segments were trained by more than one build. */
  mixedBuilds: boolean;
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
      'runs.reused_from',
      'runs.attempts',
      'runs.device',
      'runs.build_id',
      'runs.mixed_builds',
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
    reusedFrom: r.reused_from,
    attempts: r.attempts,
    device: r.device,
    buildId: r.build_id,
    mixedBuilds: r.mixed_builds,
  }));
}

/** A run the sweep workflow is to launch, as its stored row says. */
export interface StoredRun {
  index: number;
  runId: string;
  config: RunConfig;
}

/**
 * The sweep's pending runs with a run index above `after`, in index order, at most `limit`;
 * `remaining` counts all of them (this page included).
 */
export async function pendingRuns(db: Db, sweepId: string, after: number, limit: number): Promise<{ runs: StoredRun[]; remaining: number }> {
  const pending = db.selectFrom('runs').where('sweep_id', '=', sweepId).where('status', '=', 'pending').where('run_index', '>', after);
  const rows = await pending.select(['run_index', 'id', 'config']).orderBy('run_index').limit(limit).execute();
  const { n } = await pending.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return { runs: rows.map((r) => ({ index: r.run_index, runId: r.id, config: r.config })), remaining: Number(n) };
}

export interface RunCounts {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Completed runs whose results were copied from another sweep (counted in `completed` too). */
  reused: number;
}

/** A sweep's runs by status, from the rows (the truth after retries and extensions). */
export async function countRuns(db: Db, sweepId: string): Promise<RunCounts> {
  const rows = await db
    .selectFrom('runs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.count<number>('reused_from').as('reused')])
    .where('sweep_id', '=', sweepId)
    .groupBy('status')
    .execute();
  const c: RunCounts = { total: 0, pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0, reused: 0 };
  for (const r of rows) {
    c[r.status] += Number(r.n);
    c.total += Number(r.n);
    if (r.status === 'completed') c.reused += Number(r.reused);
  }
  return c;
}

/**
 * Whether a stored run's code may stand in for `codeVersion`: the one place that decides what
 * "same code" means for reuse (extend it here when runs record more, e.g. the git commit).
 */
function sameCode(codeVersion: string) {
  return sql<boolean>`s.code_version = ${codeVersion}`;
}

/**
 * Marks each pending run of `sweepId` that was completed elsewhere (same run_key, same code) as
 * completed, copying the source's points, metric and layer points and final figures; the copy
 * records its origin in `reused_from` (the original run, never a copy), 0 attempts and 0 seconds.
 * One transaction. Returns how many runs were reused.
 */
export async function reuseCompletedRuns(db: Db, sweepId: string, codeVersion: string): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await sql`
      create temporary table reuse_pairs on commit drop as
      select distinct on (r.id) r.id as run_id, s.id as src_id, coalesce(s.reused_from, s.id) as origin
      from runs r
      join runs s on s.run_key = r.run_key and s.sweep_id <> r.sweep_id and s.status = 'completed' and ${sameCode(codeVersion)}
      where r.sweep_id = ${sweepId} and r.status = 'pending'
      order by r.id, (s.reused_from is null) desc, s.finished_at desc, s.id`.execute(tx);
    await sql`
      insert into run_points (run_id, step, tokens, train_loss, val_loss, activation_ratio, metric, dead_ratio, nonzero_params, lr, recorded_at)
      select q.run_id, x.step, x.tokens, x.train_loss, x.val_loss, x.activation_ratio, x.metric, x.dead_ratio, x.nonzero_params, x.lr, x.recorded_at
      from reuse_pairs q join run_points x on x.run_id = q.src_id`.execute(tx);
    await sql`
      insert into metric_points (run_id, step, metric, activation_ratio, detail)
      select q.run_id, x.step, x.metric, x.activation_ratio, x.detail from reuse_pairs q join metric_points x on x.run_id = q.src_id`.execute(tx);
    await sql`
      insert into layer_points (run_id, step, layer, metric, activation_ratio)
      select q.run_id, x.step, x.layer, x.metric, x.activation_ratio from reuse_pairs q join layer_points x on x.run_id = q.src_id`.execute(tx);
    const updated = await sql`
      update runs r set status = 'completed', reused_from = q.origin, code_version = s.code_version,
        backend = s.backend, worker = s.worker, total_params = s.total_params,
        non_embedding_params = s.non_embedding_params, linear_params = s.linear_params,
        avg_nonzero_params = s.avg_nonzero_params, steps_done = s.steps_done,
        final_train_loss = s.final_train_loss, final_val_loss = s.final_val_loss,
        train_seconds = 0, measure_seconds = 0, attempts = 0, error = null,
        started_at = now(), finished_at = now(), updated_at = now()
      from reuse_pairs q join runs s on s.id = q.src_id
      where r.id = q.run_id`.execute(tx);
    return Number(updated.numAffectedRows ?? 0);
  });
}

/**
 * Puts a sweep's finished runs back to `pending` for a retry: those in `statuses`, limited to
 * `runIds` when given. Checkpoints, points and attempts stay, so each resumes where it stopped.
 * Returns the ids that moved.
 */
export async function reopenRuns(db: Db, sweepId: string, statuses: ('failed' | 'cancelled')[], runIds?: string[]): Promise<string[]> {
  let q = db
    .updateTable('runs')
    .set({ status: 'pending', error: null, finished_at: null, updated_at: sql`now()` })
    .where('sweep_id', '=', sweepId)
    .where('status', 'in', statuses);
  if (runIds) q = q.where('id', 'in', runIds);
  return (await q.returning('id').execute()).map((r) => r.id);
}

/** The runs of a sweep in the given states (all of them when `statuses` is empty), in run order. */
export async function runsInStatus(db: Db, sweepId: string, statuses: RunStatus[]): Promise<{ id: string; status: RunStatus }[]> {
  let q = db.selectFrom('runs').select(['id', 'status']).where('sweep_id', '=', sweepId);
  if (statuses.length > 0) q = q.where('status', 'in', statuses);
  return q.orderBy('run_index').execute();
}

/** Sets runs back to a status they had (a retry whose workflow could not start). */
export async function setRunsStatus(db: Db, runIds: string[], status: RunStatus): Promise<void> {
  for (let start = 0; start < runIds.length; start += 1000) {
    await db.updateTable('runs').set({ status, updated_at: sql`now()` }).where('id', 'in', runIds.slice(start, start + 1000)).execute();
  }
}
