// The training activity: restore the last committed checkpoint, train to the next
// segment boundary, and at every eval point commit points + checkpoint in ONE transaction.
// A retry therefore restarts from exactly what is stored: no point is lost or duplicated.
import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import { sql } from 'kysely';
import type { Db } from '../db/connect';
import { isEvalStep } from '../workflows/segments';
import type { RunConfig } from '../workflows/spec';
import { createTrainer, initBackend } from './train';
import type { EvalResult, Trainer } from './train/types';
import type { ActivityDeps } from '.';
import { ChecksumMismatchError, CheckpointTooLargeError, openStore, openStoreForBlob, type CheckpointStore, type StoredBlob } from '../stores';
import { CHECKPOINT_FORMAT_VERSION } from './train/checkpointStream';

export interface SegmentInput {
  runId: string;
  config: RunConfig;
  /** Train until this step (an eval point), then return. */
  toStep: number;
}

export interface SegmentResult {
  step: number;
  /** Set when the loss stopped being finite; the run is then failed, not retried. */
  diverged?: string;
  valLoss?: number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createTrainSegment(deps: ActivityDeps) {
  const { db } = deps;
  // Interim wiring until the activity takes its store from the worker's configuration.
  const store = openStore(process.env.SPARSITY_CHECKPOINT_STORE || 'postgres', { db });
  return async function trainSegment(input: SegmentInput): Promise<SegmentResult> {
    const ctx = Context.current();
    const backend = await initBackend(deps.backend);
    const stored = await db
      .selectFrom('checkpoints')
      .select(['step', 'uri', 'sha256', 'bytes'])
      .where('run_id', '=', input.runId)
      .executeTakeFirst();
    if (stored && stored.step >= input.toStep) return { step: stored.step };

    // Every attempt at a segment counts: a run that lost a worker shows more attempts than segments.
    await db.updateTable('runs').set({ attempts: sql`attempts + 1` }).where('id', '=', input.runId).execute();
    ctx.heartbeat({ step: stored?.step ?? 0, phase: 'restoring' });
    let checkpoint: Uint8Array | undefined;
    if (stored) {
      try {
        checkpoint = await readBlob(stored, db);
      } catch (err) {
        if (err instanceof ChecksumMismatchError) {
          throw ApplicationFailure.nonRetryable(`run ${input.runId}: ${err.message}`, 'CorruptCheckpoint');
        }
        throw err;
      }
    }
    let trainer: Trainer;
    try {
      trainer = await createTrainer(input.config, { backend, checkpoint });
    } catch (err) {
      // A configuration the engine refuses fails the same way on every worker: do not retry it.
      throw ApplicationFailure.nonRetryable(`cannot build the model: ${(err as Error).message}`, 'InvalidRunConfig');
    }
    try {
      if (!stored) await recordModel(db, input.runId, trainer, deps.workerName);
      let lossSum = 0;
      let lossCount = 0;
      let lastLr = 0;
      let wallStart = Date.now();
      while (trainer.step < input.toStep) {
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('run cancelled');
        const log = await trainer.trainStep();
        if (!Number.isFinite(log.loss)) {
          return { step: log.step, diverged: `training loss became ${log.loss} at step ${log.step}` };
        }
        lossSum += log.loss;
        lossCount++;
        lastLr = log.lr;
        ctx.heartbeat({ step: trainer.step, loss: log.loss });
        if (isEvalStep(trainer.step, input.config)) {
          // Measuring and committing can take a while: keep the heartbeat going around each part.
          ctx.heartbeat({ step: trainer.step, phase: 'evaluating' });
          const result = await trainer.evaluate();
          ctx.heartbeat({ step: trainer.step, phase: 'committing' });
          if (!Number.isFinite(result.valLoss)) {
            return { step: trainer.step, diverged: `validation loss became ${result.valLoss} at step ${trainer.step}` };
          }
          const bytes = await trainer.checkpoint();
          // The blob first, then the pointer in the eval point's transaction.
          const checkpoint = await store
            .put(
              (async function* () {
                yield bytes;
              })(),
              { runId: input.runId, expectedBytes: bytes.byteLength },
            )
            .catch((err: unknown) => {
              // Too large for the store on every worker: fail the run with the message, do not retry.
              if (err instanceof CheckpointTooLargeError) throw ApplicationFailure.nonRetryable(err.message, 'CheckpointTooLarge');
              throw err;
            });
          const seconds = (Date.now() - wallStart) / 1000;
          await commitPoint(db, store, {
            runId: input.runId,
            trainer,
            result,
            trainLoss: lossSum / lossCount,
            lr: lastLr,
            checkpoint,
            seconds,
            worker: deps.workerName,
          });
          lossSum = 0;
          lossCount = 0;
          wallStart = Date.now();
        }
        await yieldToEventLoop();
      }
      return { step: trainer.step };
    } finally {
      trainer.dispose();
    }
  };
}

async function recordModel(db: Db, runId: string, trainer: Trainer, worker: string): Promise<void> {
  await db
    .updateTable('runs')
    .set({
      backend: trainer.backend,
      worker,
      total_params: trainer.params.total,
      non_embedding_params: trainer.params.nonEmbedding,
      linear_params: trainer.params.linear,
      updated_at: sql`now()`,
    })
    .where('id', '=', runId)
    .execute();
}

interface PointToCommit {
  runId: string;
  trainer: Trainer;
  result: EvalResult;
  trainLoss: number;
  lr: number;
  checkpoint: StoredBlob;
  seconds: number;
  worker: string;
}

async function readBlob(blob: StoredBlob, db: Db): Promise<Uint8Array> {
  const from = openStoreForBlob(blob.uri, { db });
  try {
    const parts: Uint8Array[] = [];
    for await (const c of from.get(blob)) parts.push(c);
    return Buffer.concat(parts);
  } finally {
    await from.close();
  }
}

async function commitPoint(db: Db, store: CheckpointStore, p: PointToCommit): Promise<void> {
  const { result, trainer } = p;
  const primary = trainer.config.measure.primary;
  const primaryRatio = result.metrics.find((m) => m.metric === primary)?.activationRatio ?? null;
  const step = result.step;
  const outcome = await db.transaction().execute(async (tx): Promise<{ committed: boolean; superseded: string | null }> => {
    await tx
      .insertInto('run_points')
      .values({
        run_id: p.runId,
        step,
        tokens: result.tokens,
        train_loss: p.trainLoss,
        val_loss: result.valLoss,
        activation_ratio: primaryRatio,
        metric: primary,
        dead_ratio: result.deadRatio,
        nonzero_params: result.nonzeroParams,
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
    if (result.metrics.length > 0) {
      await tx
        .insertInto('metric_points')
        .values(
          result.metrics.map((m) => ({
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
    if (result.layers.length > 0) {
      await tx
        .insertInto('layer_points')
        .values(result.layers.map((l) => ({ run_id: p.runId, step, layer: l.layer, metric: l.metric, activation_ratio: l.activationRatio })))
        .onConflict((oc) =>
          oc.columns(['run_id', 'step', 'layer', 'metric']).doUpdateSet((eb) => ({ activation_ratio: eb.ref('excluded.activation_ratio') })),
        )
        .execute();
    }
    const run = await tx.selectFrom('runs').select('status').where('id', '=', p.runId).executeTakeFirst();
    if (run?.status === 'completed') return { committed: false, superseded: null }; // finished elsewhere
    const prev = await tx.selectFrom('checkpoints').select('uri').where('run_id', '=', p.runId).forUpdate().executeTakeFirst();
    const pointer = { uri: p.checkpoint.uri, sha256: p.checkpoint.sha256, bytes: p.checkpoint.bytes, format_version: CHECKPOINT_FORMAT_VERSION, backend: trainer.backend };
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
        final_val_loss: result.valLoss,
        avg_nonzero_params: trainer.nonzeroParamSteps / Math.max(1, trainer.step),
        train_seconds: sql`train_seconds + ${p.seconds - result.measureSeconds}`,
        measure_seconds: sql`measure_seconds + ${result.measureSeconds}`,
        worker: p.worker,
        updated_at: sql`now()`,
      })
      .where('id', '=', p.runId)
      .where('steps_done', '<=', step)
      .where('status', '!=', 'completed')
      .execute();
    return { committed: written !== undefined, superseded: written && prev && prev.uri !== p.checkpoint.uri ? prev.uri : null };
  });
  // After the commit: the blob nobody points to goes now; if deleting fails, gc collects it later.
  const unused = outcome.committed ? outcome.superseded : p.checkpoint.uri;
  if (unused) {
    const holder = store.owns(unused) ? store : openStoreForBlob(unused, { db });
    await holder.delete(unused).catch(() => undefined);
    if (holder !== store) await holder.close();
  }
}
