// The training activity: restore the last committed checkpoint, train to the next segment
// boundary, and at every eval point commit points + checkpoint in ONE transaction
// (db/points.ts). A retry therefore restarts from exactly what is stored. Each attempt is one
// `run_segments` row (build, host, device); on SIGTERM (deps.draining) the segment stops at its
// next eval point, after committing it, and returns the step reached.
import os from 'node:os';
import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import { commitEvalPoint } from '../db/points';
import { finishSegment, startSegment } from '../db/provenance';
import { countAttempt, loadTrainingState, recordModel, type CheckpointPointer } from '../db/runs';
import type { SegmentStatus } from '../db/schema';
import { hashJson } from '../domain/hash';
import { isEvalStep } from '../domain/segments';
import type { BranchPoint } from '../domain/ladder';
import type { RunConfig } from '../domain/spec';
import { checkpointBytes } from '../domain/sizing';
import { createTrainer, DataFileError, initBackend } from '../engine';
import type { CheckpointContents } from '../engine/checkpoint';
import { CHECKPOINT_FORMAT_VERSION, decodeCheckpointStream, encodeCheckpointStream } from '../engine/checkpointStream';
import { codeVersion } from '../engine/codeVersion';
import { deviceInfo } from '../engine/deviceInfo';
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
  /** Last committed step: `toStep`, or an earlier eval point when the slot was drained (SIGTERM). */
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
    let committed = stored?.step ?? 0;
    const segmentId = await startSegment(db, {
      runId: input.runId,
      attempt: ctx.info.attempt,
      fromStep: committed,
      toStep: input.toStep,
      worker: deps.workerName,
      host: os.hostname(),
      slot: deps.slot,
      code: deps.code,
      device: deviceInfo(backend, deps.slot),
    });
    let ended: { status: Exclude<SegmentStatus, 'running'>; step: number } = { status: 'failed', step: committed };
    const end = (status: Exclude<SegmentStatus, 'running'>, result: SegmentResult): SegmentResult => {
      ended = { status, step: status === 'diverged' ? committed : result.step };
      return result;
    };
    ctx.heartbeat({ step: committed, phase: 'restoring' });
    const store = deps.stores.open(input.checkpointStore ?? deps.checkpointStore);
    // The blob is read from the store its pointer names (a sweep may have changed stores since).
    const restored = stored
      ? await keepAlive(ctx, stored.step, 'restoring', () => restoreCheckpoint(deps, input.runId, stored)).catch(async (err: unknown) => {
          await finishSegment(db, segmentId, 'failed', committed).catch(() => undefined);
          throw err;
        })
      : undefined;
    let trainer: Trainer;
    try {
      // Checking token files or tokenising a corpus (first use on this host) can take a while.
      const progress = async (p: { phase: string; done: number; total: number }) => {
        ctx.heartbeat({ step: stored?.step ?? 0, phase: `${p.phase} ${p.done}/${p.total} bytes` });
        await yieldToEventLoop();
      };
      trainer = await createTrainer(input.config, { paths: deps.paths, backend, checkpoint: restored, progress });
    } catch (err) {
      await finishSegment(db, segmentId, 'failed', committed).catch(() => undefined);
      // A configuration the engine refuses fails the same way on every worker: do not retry it.
      // A bad data file is named with the byte offset and this host (another host may see other bytes).
      if (err instanceof DataFileError) throw ApplicationFailure.nonRetryable(`cannot read the data: ${err.message}`, 'InvalidRunConfig');
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
          codeVersion: codeVersion(),
        });
      }
      // A checkpoint this store cannot take fails the run now, not after a segment of training.
      const checkpointSize = checkpointBytes(input.config.model, input.config.pruning.schedule !== 'none');
      if (store.maxBytes !== undefined && checkpointSize > store.maxBytes) {
        throw ApplicationFailure.nonRetryable(`${new CheckpointTooLargeError(input.runId, checkpointSize, store.maxBytes, false).message} (refused before training)`, 'CheckpointTooLarge');
      }
      let lossSum = 0;
      let lossCount = 0;
      let lastLr = 0;
      let wallStart = Date.now();
      while (trainer.step < input.toStep) {
        if (ctx.cancellationSignal.aborted) {
          ended = { status: 'cancelled', step: committed };
          throw new CancelledFailure('run cancelled');
        }
        const log = await trainer.trainStep();
        if (!Number.isFinite(log.loss)) {
          return end('diverged', { step: log.step, diverged: `training loss became ${log.loss} at step ${log.step}` });
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
            return end('diverged', { step: trainer.step, diverged: `validation loss became ${result.valLoss} at step ${trainer.step}` });
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
          committed = result.step;
          lossSum = 0;
          lossCount = 0;
          wallStart = Date.now();
          // Draining (SIGTERM): everything so far is committed; hand the rest of the segment
          // back to the workflow, which schedules it on another slot.
          if (deps.draining?.() && trainer.step < input.toStep) return end('drained', { step: committed });
        }
        await yieldToEventLoop();
      }
      return end('completed', { step: trainer.step });
    } finally {
      trainer.dispose();
      // Best effort: a lost database must not turn a finished segment into a failed attempt.
      await finishSegment(db, segmentId, ended.status, ended.step).catch(() => undefined);
    }
  };
}

/**
 * Reads and verifies a run's checkpoint; a corrupt or missing blob fails the run (no retry can fix
 * it). The sha256 is known only at the end of the stream, but corrupt bytes can break the decoder
 * before that (a damaged header): a decoding error is then settled by reading the blob once more,
 * whole, so the message says whether the bytes differ from what was written. A read error of the
 * store itself (a network hiccup) stays retryable.
 */
async function restoreCheckpoint(deps: ActivityDeps, runId: string, pointer: CheckpointPointer): Promise<CheckpointContents> {
  const store = deps.stores.forBlob(pointer.uri);
  let readFailed = false;
  async function* tracked(): AsyncGenerator<Uint8Array> {
    try {
      yield* store.get(pointer);
    } catch (err) {
      readFailed = true;
      throw err;
    }
  }
  try {
    try {
      return await decodeCheckpointStream(tracked());
    } catch (err) {
      if (readFailed) throw err;
      for await (const chunk of store.get(pointer)) void chunk; // throws ChecksumMismatchError if the bytes changed
      throw ApplicationFailure.nonRetryable(
        `run ${runId}: checkpoint blob ${pointer.uri} is intact (sha256 ${pointer.sha256}) but cannot be decoded: ${(err as Error).message}`,
        'UnreadableCheckpoint',
      );
    }
  } catch (err) {
    if (err instanceof ChecksumMismatchError) throw ApplicationFailure.nonRetryable(`run ${runId}: ${err.message}`, 'CorruptCheckpoint');
    if (err instanceof BlobNotFoundError) {
      throw ApplicationFailure.nonRetryable(`run ${runId}: ${err.message} (is the store mounted and reachable on ${os.hostname()}?)`, 'MissingCheckpoint');
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
