// Committing one eval point: the run's points, metrics, per-layer figures and its checkpoint in
// ONE transaction, so a retried segment restarts from exactly what is stored (no point lost or
// duplicated). Every write is an upsert keyed by (run_id, step[, metric[, layer]]).
import { sql } from 'kysely';
import type { LayerMetric, MetricSummary } from '../engine/types';
import type { Db } from './connect';
import { blobReferenced, storeBranchCheckpoint } from './ladders';

export interface EvalPoint {
  runId: string;
  step: number;
  tokens: number;
  /** Mean training loss over the steps since the previous point. */
  trainLoss: number;
  valLoss: number;
  lr: number;
  /** The sweep's primary metric and its model-mean activation ratio (fills run_points.activation_ratio). */
  primary: { metric: string; activationRatio: number | null };
  deadRatio: number;
  nonzeroParams: number;
  metrics: MetricSummary[];
  layers: LayerMetric[];
  /** The blob already written to a checkpoint store (stores/): only its pointer is committed here. */
  checkpoint: { uri: string; sha256: string; bytes: number; formatVersion: number; backend: string };
  /** N̄ so far (mean non-zero linear weights over the steps trained). */
  avgNonzeroParams: number;
  /** Wall seconds since the previous point, training and measuring separately. */
  trainSeconds: number;
  measureSeconds: number;
  worker: string;
  /** A trunk's branch point (domain/ladder.ts): also keep this checkpoint for that many branching runs. */
  branchCheckpoint?: { branches: number };
}

/**
 * `committed`: the pointer now names this point's blob. `unreferenced`: a blob no row points to
 * after this commit (the superseded one, or this point's own when a later or completed run won):
 * the caller deletes it; garbage collection catches it if that fails.
 */
export interface CommitOutcome {
  committed: boolean;
  unreferenced: string | null;
}

export async function commitEvalPoint(db: Db, p: EvalPoint): Promise<CommitOutcome> {
  const { step } = p;
  return db.transaction().execute(async (tx): Promise<CommitOutcome> => {
    await tx
      .insertInto('run_points')
      .values({
        run_id: p.runId,
        step,
        tokens: p.tokens,
        train_loss: p.trainLoss,
        val_loss: p.valLoss,
        activation_ratio: p.primary.activationRatio,
        metric: p.primary.metric,
        dead_ratio: p.deadRatio,
        nonzero_params: p.nonzeroParams,
        lr: p.lr,
      })
      .onConflict((oc) =>
        oc.columns(['run_id', 'step']).doUpdateSet((eb) => ({
          train_loss: eb.ref('excluded.train_loss'),
          val_loss: eb.ref('excluded.val_loss'),
          activation_ratio: eb.ref('excluded.activation_ratio'),
          dead_ratio: eb.ref('excluded.dead_ratio'),
          nonzero_params: eb.ref('excluded.nonzero_params'),
        })),
      )
      .execute();
    if (p.metrics.length > 0) {
      await tx
        .insertInto('metric_points')
        .values(
          p.metrics.map((m) => ({
            run_id: p.runId,
            step,
            metric: m.metric,
            activation_ratio: m.activationRatio,
            detail: m.detail ? JSON.stringify(m.detail) : null,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['run_id', 'step', 'metric']).doUpdateSet((eb) => ({
            activation_ratio: eb.ref('excluded.activation_ratio'),
            detail: eb.ref('excluded.detail'),
          })),
        )
        .execute();
    }
    if (p.layers.length > 0) {
      await tx
        .insertInto('layer_points')
        .values(p.layers.map((l) => ({ run_id: p.runId, step, layer: l.layer, metric: l.metric, activation_ratio: l.activationRatio })))
        .onConflict((oc) =>
          oc.columns(['run_id', 'step', 'layer', 'metric']).doUpdateSet((eb) => ({ activation_ratio: eb.ref('excluded.activation_ratio') })),
        )
        .execute();
    }
    const c = p.checkpoint;
    const pointer = { uri: c.uri, sha256: c.sha256, bytes: c.bytes, format_version: c.formatVersion, backend: c.backend };
    if (p.branchCheckpoint) {
      await storeBranchCheckpoint(tx, { trunkRunId: p.runId, step, pointer, branches: p.branchCheckpoint.branches });
    }
    const run = await tx.selectFrom('runs').select('status').where('id', '=', p.runId).executeTakeFirst();
    const unlessShared = async (uri: string) => ((await blobReferenced(tx, uri)) ? null : uri);
    if (run?.status === 'completed') return { committed: false, unreferenced: await unlessShared(c.uri) }; // finished elsewhere
    const prev = await tx.selectFrom('checkpoints').select('uri').where('run_id', '=', p.runId).forUpdate().executeTakeFirst();
    const written = await tx
      .insertInto('checkpoints')
      .values({ run_id: p.runId, step, ...pointer })
      .onConflict((oc) =>
        oc
          .column('run_id')
          .doUpdateSet({ step, ...pointer, created_at: sql`now()` })
          // A worker presumed dead may still finish late: never move a checkpoint backwards.
          .where('checkpoints.step', '<', step),
      )
      .returning('run_id')
      .executeTakeFirst();
    // A worker presumed dead may commit late: only a step at least as far as the stored one
    // updates the run's latest figures.
    await tx
      .updateTable('runs')
      .set({
        steps_done: step,
        final_train_loss: p.trainLoss,
        final_val_loss: p.valLoss,
        avg_nonzero_params: p.avgNonzeroParams,
        train_seconds: sql`train_seconds + ${p.trainSeconds}`,
        measure_seconds: sql`measure_seconds + ${p.measureSeconds}`,
        worker: p.worker,
        updated_at: sql`now()`,
      })
      .where('id', '=', p.runId)
      .where('steps_done', '<=', step)
      .where('status', '!=', 'completed')
      .execute();
    if (!written) return { committed: false, unreferenced: await unlessShared(c.uri) };
    return { committed: true, unreferenced: prev && prev.uri !== c.uri ? await unlessShared(prev.uri) : null };
  });
}
