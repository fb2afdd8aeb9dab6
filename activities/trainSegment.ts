// The training activity: restore the last committed checkpoint, train to the next segment
// boundary, and at every eval point commit points + checkpoint in ONE transaction
// (db/points.ts). A retry therefore restarts from exactly what is stored.
import { hostname } from 'node:os';
import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import { commitEvalPoint } from '../db/points';
import { countAttempt, loadTrainingState, recordModel, type CheckpointPointer } from '../db/runs';
import { hashJson } from '../domain/hash';
import { isEvalStep } from '../domain/segments';
import type { BranchPoint } from '../domain/ladder';
import type { RunConfig } from '../domain/spec';
import { createTrainer, initBackend } from '../engine';
import type { CheckpointContents } from '../engine/checkpoint';
import { CHECKPOINT_FORMAT_VERSION, decodeCheckpointStream, encodeCheckpointStream } from '../engine/checkpointStream';
import type { Trainer } from '../engine/types';
import { BlobNotFoundError, ChecksumMismatchError, CheckpointTooLargeError, type CheckpointStore, type StoredBlob } from '../stores';
import type { ActivityDeps } from '.';

export interface SegmentInput {
  runId: string;
  config: RunConfig;
  /** Train until this step (an eval point), then return. */
  toStep: number;
  /** The sweep's checkpoint store (`checkpointStore:` in the sweep file); absent = the worker's default. */
  checkpointStore?: string;
  /** A ladder's trunk: eval points whose checkpoint shorter budgets branch from (domain/ladder.ts). */
  branchPoints?: BranchPoint[];
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
  return async function trainSegment(input: SegmentInput): Promise<SegmentResult> {
    const ctx = Context.current();
    const backend = await initBackend(deps.backend, deps.paths.nativeCandidates);
    const state = await loadTrainingState(db, input.runId);
    if (!state) throw ApplicationFailure.nonRetryable(`run ${input.runId} is not in the database`, 'UnknownRun');
    // The stored row is the run: a payload that hashes differently (a deploy that changed sizing
    // or defaults mid-sweep) would train something other than what `runs.config` and its key say.
    const key = hashJson(input.config);
    if (key !== state.runKey) {
      throw ApplicationFailure.nonRetryable(
        `run ${input.runId}: the configuration this worker received (key ${key}) differs from the stored run (run_key ${state.runKey}); refusing to train it`,
        'RunConfigMismatch',
      );
    }
    const stored = state.checkpoint;
    if (stored && stored.step >= input.toStep) return { step: stored.step };

    const branchAt = new Map((input.branchPoints ?? []).map((b) => [b.step, { branches: b.branches }]));
    await countAttempt(db, input.runId);
    ctx.heartbeat({ step: stored?.step ?? 0, phase: 'restoring' });
    const store = deps.stores.open(input.checkpointStore ?? deps.checkpointStore);
    // The blob is read from the store its pointer names (a sweep may have changed stores since).
    const restored = stored ? await keepAlive(ctx, stored.step, 'restoring', () => restoreCheckpoint(deps, input.runId, stored)) : undefined;
    let trainer: Trainer;
    try {
      trainer = await createTrainer(input.config, { paths: deps.paths, backend, checkpoint: restored });
    } catch (err) {
      // A configuration the engine refuses fails the same way on every worker: do not retry it.
      throw ApplicationFailure.nonRetryable(`cannot build the model: ${(err as Error).message}`, 'InvalidRunConfig');
    }
    try {
      if (!stored) {
        await recordModel(db, input.runId, {
          backend: trainer.backend,
          worker: deps.workerName,
          totalParams: trainer.params.total,
          nonEmbeddingParams: trainer.params.nonEmbedding,
          linearParams: trainer.params.linear,
        });
      }
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
          // The blob first (streamed tensor by tensor), then its pointer in the eval point's transaction.
          const blob = await keepAlive(ctx, trainer.step, 'saving checkpoint', () => saveCheckpoint(store, input.runId, trainer));
          const seconds = (Date.now() - wallStart) / 1000;
          const primary = input.config.measure.primary;
          const outcome = await commitEvalPoint(db, {
            runId: input.runId,
            step: result.step,
            tokens: result.tokens,
            trainLoss: lossSum / lossCount,
            valLoss: result.valLoss,
            lr: lastLr,
            primary: { metric: primary, activationRatio: result.metrics.find((m) => m.metric === primary)?.activationRatio ?? null },
            deadRatio: result.deadRatio,
            nonzeroParams: result.nonzeroParams,
            metrics: result.metrics,
            layers: result.layers,
            checkpoint: { ...blob, formatVersion: CHECKPOINT_FORMAT_VERSION, backend: trainer.backend },
            avgNonzeroParams: trainer.avgNonzeroParams,
            trainSeconds: seconds - result.measureSeconds,
            measureSeconds: result.measureSeconds,
            worker: deps.workerName,
            branchCheckpoint: branchAt.get(result.step),
          });
          // After the commit, the blob nobody points to goes; if this fails, `sparsity gc` collects it.
          if (outcome.unreferenced) await deps.stores.forBlob(outcome.unreferenced).delete(outcome.unreferenced).catch(() => undefined);
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

/** Reads and verifies a run's checkpoint; a corrupt or missing blob fails the run (no retry can fix it). */
async function restoreCheckpoint(deps: ActivityDeps, runId: string, pointer: CheckpointPointer): Promise<CheckpointContents> {
  try {
    return await decodeCheckpointStream(deps.stores.forBlob(pointer.uri).get(pointer));
  } catch (err) {
    if (err instanceof ChecksumMismatchError) throw ApplicationFailure.nonRetryable(`run ${runId}: ${err.message}`, 'CorruptCheckpoint');
    if (err instanceof BlobNotFoundError) {
      throw ApplicationFailure.nonRetryable(`run ${runId}: ${err.message} (is the store mounted and reachable on ${hostname()}?)`, 'MissingCheckpoint');
    }
    throw err;
  }
}

async function saveCheckpoint(store: CheckpointStore, runId: string, trainer: Trainer): Promise<StoredBlob> {
  const contents = trainer.checkpointContents();
  const floats = Object.values(contents.groups).flat().reduce((n, t) => n + (t ? t.size : 0), 0);
  try {
    return await store.put(encodeCheckpointStream(contents), { runId, expectedBytes: 4 * floats });
  } catch (err) {
    // Too large for this store on every worker: fail the run with the message, do not retry.
    if (err instanceof CheckpointTooLargeError) throw ApplicationFailure.nonRetryable(err.message, 'CheckpointTooLarge');
    throw err;
  }
}

/**
 * Heartbeats every second while `work` runs: reading or writing a checkpoint of a large model (GBs,
 * over a network store) can take far longer than a heartbeat timeout sized for one training step,
 * and it yields the event loop, so the heartbeats do go out.
 */
async function keepAlive<T>(ctx: Context, step: number, phase: string, work: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => ctx.heartbeat({ step, phase }), 1000);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}
