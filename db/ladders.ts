// Every query of token-budget ladders (domain/ladder.ts): the trunk's branch checkpoints, a
// branch taking the trunk's points and state at its branch step, and the compute a sweep saved.
import { sql, type Transaction } from 'kysely';
import type { Db } from './connect';
import type { Database } from './schema';

/**
 * Inside commitEvalPoint's transaction: keeps the trunk's state at a branch point (first write wins).
 * A late commit of the same step (a worker presumed dead) stores it only for branches that have not
 * taken it yet, so no checkpoint is left behind that nobody will read.
 */
export async function storeBranchCheckpoint(
  tx: Transaction<Database>,
  c: { trunkRunId: string; step: number; pointer: { uri: string; sha256: string; bytes: number; format_version: number; backend: string }; branches: number },
): Promise<void> {
  const taken = await tx
    .selectFrom('runs')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('branch_of', '=', c.trunkRunId)
    .where('branch_step', '=', c.step)
    .executeTakeFirstOrThrow();
  const remaining = c.branches - Number(taken.n);
  if (remaining <= 0) return;
  await tx
    .insertInto('branch_checkpoints')
    .values({ trunk_run_id: c.trunkRunId, step: c.step, ...c.pointer, remaining })
    .onConflict((oc) => oc.columns(['trunk_run_id', 'step']).doNothing())
    .execute();
}

export type AdoptResult =
  /** The run now holds the trunk's points up to `stepsDone` and its checkpoint there (or already did, or is completed). */
  | { status: 'adopted'; stepsDone: number }
  /** The trunk has not committed the branch point yet. */
  | { status: 'waiting'; trunkStep: number }
  /** The trunk will never provide it (failed, cancelled, or finished without it): train from scratch. */
  | { status: 'unavailable'; reason: string };

/**
 * Makes run `runId` a branch of `trunkRunId` at `step`, in ONE transaction: copies the trunk's
 * run_points, metric_points and layer_points for steps <= `step`, takes the branch checkpoint as the
 * run's own resumption checkpoint, and records `branch_of`/`branch_step`. Idempotent: a run that
 * already holds a checkpoint (adopted before, or training on its own) is left as it is.
 */
export async function adoptBranchPoint(db: Db, a: { runId: string; trunkRunId: string; step: number }): Promise<AdoptResult> {
  return db.transaction().execute(async (tx): Promise<AdoptResult> => {
    const run = await tx.selectFrom('runs').select(['status', 'steps_done']).where('id', '=', a.runId).forUpdate().executeTakeFirst();
    if (!run) return { status: 'unavailable', reason: `run ${a.runId} is not in the database` };
    // A completed run keeps what it stored, whatever arrives later.
    if (run.status === 'completed') return { status: 'adopted', stepsDone: run.steps_done };
    const own = await tx.selectFrom('checkpoints').select('step').where('run_id', '=', a.runId).executeTakeFirst();
    if (own) return { status: 'adopted', stepsDone: own.step };
    const ck = await tx
      .selectFrom('branch_checkpoints')
      .select(['uri', 'sha256', 'bytes', 'format_version', 'backend', 'remaining'])
      .where('trunk_run_id', '=', a.trunkRunId)
      .where('step', '=', a.step)
      .forUpdate()
      .executeTakeFirst();
    if (!ck) {
      const trunk = await tx.selectFrom('runs').select(['status', 'steps_done']).where('id', '=', a.trunkRunId).executeTakeFirst();
      if (!trunk) return { status: 'unavailable', reason: `trunk ${a.trunkRunId} is not in the database` };
      if (trunk.status === 'pending' || (trunk.status === 'running' && trunk.steps_done < a.step)) {
        return { status: 'waiting', trunkStep: trunk.steps_done };
      }
      return { status: 'unavailable', reason: `trunk ${a.trunkRunId} is ${trunk.status} at step ${trunk.steps_done} without a checkpoint at step ${a.step}` };
    }
    const [runId, trunkId, step] = [a.runId, a.trunkRunId, a.step];
    await sql`insert into run_points (run_id, step, tokens, train_loss, val_loss, activation_ratio, metric, dead_ratio, nonzero_params, lr, recorded_at)
      select ${runId}, step, tokens, train_loss, val_loss, activation_ratio, metric, dead_ratio, nonzero_params, lr, recorded_at
      from run_points where run_id = ${trunkId} and step <= ${step}
      on conflict do nothing`.execute(tx);
    await sql`insert into metric_points (run_id, step, metric, activation_ratio, detail)
      select ${runId}, step, metric, activation_ratio, detail from metric_points where run_id = ${trunkId} and step <= ${step}
      on conflict do nothing`.execute(tx);
    await sql`insert into layer_points (run_id, step, layer, metric, activation_ratio)
      select ${runId}, step, layer, metric, activation_ratio from layer_points where run_id = ${trunkId} and step <= ${step}
      on conflict do nothing`.execute(tx);
    await tx
      .insertInto('checkpoints')
      .values({ run_id: runId, step, uri: ck.uri, sha256: ck.sha256, bytes: ck.bytes, format_version: ck.format_version, backend: ck.backend })
      .execute();
    const trunk = await tx
      .selectFrom('runs')
      .select(['backend', 'worker', 'total_params', 'non_embedding_params', 'linear_params'])
      .where('id', '=', trunkId)
      .executeTakeFirstOrThrow();
    const at = await tx.selectFrom('run_points').select(['train_loss', 'val_loss']).where('run_id', '=', trunkId).where('step', '=', step).executeTakeFirst();
    await tx
      .updateTable('runs')
      .set({
        branch_of: trunkId,
        branch_step: step,
        steps_done: step,
        backend: trunk.backend,
        worker: trunk.worker,
        total_params: trunk.total_params,
        non_embedding_params: trunk.non_embedding_params,
        linear_params: trunk.linear_params,
        final_train_loss: at?.train_loss ?? null,
        final_val_loss: at?.val_loss ?? null,
        updated_at: sql`now()`,
      })
      .where('id', '=', runId)
      .execute();
    if (ck.remaining <= 1) {
      await tx.deleteFrom('branch_checkpoints').where('trunk_run_id', '=', trunkId).where('step', '=', step).execute();
    } else {
      await tx
        .updateTable('branch_checkpoints')
        .set({ remaining: ck.remaining - 1 })
        .where('trunk_run_id', '=', trunkId)
        .where('step', '=', step)
        .execute();
    }
    return { status: 'adopted', stepsDone: step };
  });
}

/** Steps a sweep's runs trained themselves against what training each from scratch would have taken, so far. */
export interface LadderSavings {
  /** Runs that branched from a trunk. */
  branchedRuns: number;
  /** Sum over runs trained by this sweep of steps_done - branch_step (the steps each trained itself). */
  stepsTrained: number;
  /** Sum over runs trained by this sweep of steps_done. */
  stepsFromScratch: number;
  /** Sum over runs reused from earlier sweeps (`reused_from`) of steps_done: compute this sweep did not spend. */
  stepsReused: number;
}

export async function ladderSavings(db: Db, sweepId: string): Promise<LadderSavings> {
  const row = await db
    .selectFrom('runs')
    .select([
      sql<number>`count(branch_of)::int`.as('branched'),
      sql<number>`coalesce(sum(steps_done - coalesce(branch_step, 0)) filter (where reused_from is null), 0)::bigint`.as('trained'),
      sql<number>`coalesce(sum(steps_done) filter (where reused_from is null), 0)::bigint`.as('scratch'),
      sql<number>`coalesce(sum(steps_done) filter (where reused_from is not null), 0)::bigint`.as('reused'),
    ])
    .where('sweep_id', '=', sweepId)
    .executeTakeFirstOrThrow();
  return { branchedRuns: Number(row.branched), stepsTrained: Number(row.trained), stepsFromScratch: Number(row.scratch), stepsReused: Number(row.reused) };
}

/**
 * Whether any checkpoint row (a run's own, or a trunk's branch point) still names blob `uri`. One
 * statement, so one snapshot: a branch adopting its branch point moves the reference from
 * `branch_checkpoints` to `checkpoints` in one transaction, and two statements under READ COMMITTED
 * could read `checkpoints` before that commit and `branch_checkpoints` after it, see neither, and let
 * the trunk delete the blob the branch is about to restore (seen once in CI: MissingCheckpoint).
 */
export async function blobReferenced(db: Db | Transaction<Database>, uri: string): Promise<boolean> {
  const r = await sql<{ referenced: boolean }>`select (exists (select 1 from checkpoints where uri = ${uri})
      or exists (select 1 from branch_checkpoints where uri = ${uri})) as referenced`.execute(db);
  return r.rows[0]?.referenced === true;
}
