// The training activity: restore the last committed checkpoint, train to the next segment
// boundary, and at every eval point commit points + checkpoint in ONE transaction
// (db/points.ts). A retry therefore restarts from exactly what is stored. Each attempt is one
// `run_segments` row (build, host, device); on SIGTERM (deps.draining) the segment stops at its
// next eval point, after committing it, and returns the step reached.
import os from 'node:os';
import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import { commitEvalPoint } from '../db/points';
import { finishSegment, startSegment } from '../db/provenance';
import { countAttempt, loadTrainingState, recordModel } from '../db/runs';
import type { SegmentStatus } from '../db/schema';
import { hashJson } from '../domain/hash';
import { isEvalStep } from '../domain/segments';
import type { RunConfig } from '../domain/spec';
import { createTrainer, initBackend } from '../engine';
import { deviceInfo } from '../engine/deviceInfo';
import type { Trainer } from '../engine/types';
import type { ActivityDeps } from '.';

export interface SegmentInput {
  runId: string;
  config: RunConfig;
  /** Train until this step (an eval point), then return. */
  toStep: number;
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
    const backend = await initBackend(deps.backend, deps.paths.nativeBackendDir);
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
    let trainer: Trainer;
    try {
      trainer = await createTrainer(input.config, { paths: deps.paths, backend, checkpoint: stored?.data });
    } catch (err) {
      await finishSegment(db, segmentId, 'failed', committed).catch(() => undefined);
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
          const checkpoint = await trainer.checkpoint();
          const seconds = (Date.now() - wallStart) / 1000;
          const primary = input.config.measure.primary;
          await commitEvalPoint(db, {
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
            checkpoint: { data: checkpoint, backend: trainer.backend },
            avgNonzeroParams: trainer.avgNonzeroParams,
            trainSeconds: seconds - result.measureSeconds,
            measureSeconds: result.measureSeconds,
            worker: deps.workerName,
          });
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
