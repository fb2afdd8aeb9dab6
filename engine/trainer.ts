// The Trainer: owns parameters, AdamW state and pruning masks of one run, and steps them.
import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../domain/spec';
import { measureSparsity, type SparsityMeasurement } from './sparsity/metrics';
import type { FfnCapture, SparsityProbe } from './sparsity/probe';
import { isPruneStep, sparsityAt, updateMasks } from './sparsity/pruning';
import { encodeCheckpoint, type CheckpointContents, type CheckpointCounters } from './checkpoint';
import type { DataSource } from './data/source';
import type { Batch, Network } from './model/network';
import { adamWUpdate, type AdamState } from './optimizer';
import { learningRate } from '../domain/lrSchedule';
import { MicrobatchRunner, trainThreads } from './shards';
import type { BackendName, EvalResult, ParamCounts, StepLog, Trainer } from './types';

export interface TrainerState {
  params: tf.Tensor[];
  adam: AdamState;
  /** One per param: its 0/1 pruning mask, or null (not prunable, or no pruning yet). */
  masks: (tf.Tensor | null)[];
  counters: CheckpointCounters;
}

export class NetworkTrainer implements Trainer {
  private weights: tf.Tensor[];
  private adam: AdamState;
  private masks: (tf.Tensor | null)[];
  private counters: CheckpointCounters;
  /** Non-zero prunable weights under the current masks (all of them before any pruning). */
  private liveLinear: number;
  private readonly microbatches: MicrobatchRunner;

  constructor(
    readonly config: RunConfig,
    readonly backend: BackendName,
    readonly params: ParamCounts,
    private readonly network: Network,
    private readonly data: DataSource,
    state: TrainerState,
  ) {
    this.weights = state.params;
    this.adam = state.adam;
    this.masks = state.masks;
    this.counters = state.counters;
    this.liveLinear = this.countLive();
    const m = config.model;
    this.microbatches = new MicrobatchRunner(network, m, backend, m.family === 'transformer' ? m.seqLen : 1, backend === 'tensorflow' ? 1 : trainThreads());
  }

  get step(): number {
    return this.counters.step;
  }
  get tokens(): number {
    return this.counters.tokens;
  }
  get nonzeroParamSteps(): number {
    return this.counters.nonzeroParamSteps;
  }

  /** N̄ ("The Journey Matters", Jin et al. 2025): mean over the steps trained of the non-zero linear weights. */
  get avgNonzeroParams(): number {
    return this.counters.nonzeroParamSteps / Math.max(1, this.counters.step);
  }

  private prunableIndices(): number[] {
    return this.network.specs.flatMap((s, i) => (s.prunable ? [i] : []));
  }

  private countLive(): number {
    let live = 0;
    for (const i of this.prunableIndices()) {
      const mask = this.masks[i];
      live += mask ? tf.tidy(() => tf.sum(mask).dataSync()[0]) : this.weights[i].size;
    }
    return live;
  }

  /** Recompute masks (nested: pruned weights stay pruned) and zero the pruned weights and moments now. */
  private prune(step: number): void {
    const idx = this.prunableIndices();
    const old = idx.map((i) => this.masks[i]);
    const hasOld = old.every((m) => m != null);
    const s = sparsityAt(this.config.pruning, step, this.config.training.steps);
    const fresh = updateMasks(idx.map((i) => this.weights[i]), hasOld ? (old as tf.Tensor[]) : null, s, this.config.pruning.scope);
    idx.forEach((i, k) => {
      this.masks[i]?.dispose();
      this.masks[i] = fresh[k];
      const apply = (t: tf.Tensor): tf.Tensor => {
        const next = tf.mul(t, fresh[k]);
        t.dispose();
        return next;
      };
      this.weights[i] = apply(this.weights[i]);
      this.adam.m[i] = apply(this.adam.m[i]);
      this.adam.v[i] = apply(this.adam.v[i]);
    });
    this.liveLinear = this.countLive();
  }

  async trainStep(): Promise<StepLog> {
    const step = this.counters.step;
    const total = this.config.training.steps;
    if (isPruneStep(this.config.pruning, step, total)) this.prune(step);
    const lr = learningRate(this.config.optim, step, total);
    const batch = this.data.trainBatch(step);
    const { loss, grads } = await this.microbatches.lossAndGrads(this.weights, batch);
    tf.dispose([batch.inputs, batch.labels]);
    const next = adamWUpdate(this.config.optim, this.network.specs, this.weights, grads, this.adam, this.masks, lr, step);
    tf.dispose([...grads, ...this.weights, ...this.adam.m, ...this.adam.v]);
    this.weights = next.params;
    this.adam = next.state;
    const lossValue = (await loss.data())[0];
    loss.dispose();
    this.counters.step = step + 1;
    this.counters.tokens += this.data.tokensPerStep;
    this.counters.nonzeroParamSteps += this.liveLinear;
    return { step: step + 1, loss: lossValue, lr };
  }

  private probe(val: Batch): SparsityProbe {
    return {
      layers: this.network.ffnLayers,
      capture: () => {
        const captures: FfnCapture[] = [];
        const loss = tf.tidy(() => this.network.loss(this.weights, val, { captures }));
        const value = loss.dataSync()[0];
        loss.dispose();
        return { loss: value, layers: captures };
      },
      lossWithThresholds: (thresholds: number[]) =>
        tf.tidy(() => this.network.loss(this.weights, val, { thresholds }).dataSync()[0]),
    };
  }

  /**
   * Validation loss and the run's sparsity metrics on `val` instead of the run's own validation batch:
   * for measuring how much a metric moves between validation sets (`sparsity bench ppl-noise`).
   * The caller owns `val`.
   */
  measureOn(val: Batch): { valLoss: number } & SparsityMeasurement {
    const valLoss = tf.tidy(() => this.network.loss(this.weights, val).dataSync()[0]);
    const measured = measureSparsity(this.probe(val), this.config.measure.metrics, this.config.measure.primary, {
      activation: this.config.model.activation,
      topK: this.config.model.topK,
    });
    return { valLoss, ...measured };
  }

  /** The run's fixed validation batch (owned by the data source). */
  get validationBatch(): Batch {
    return this.data.valBatch;
  }

  async evaluate(): Promise<EvalResult> {
    const started = performance.now();
    const { valLoss, metrics, layers, deadRatio } = this.measureOn(this.data.valBatch);
    const measureSeconds = (performance.now() - started) / 1000;
    const nonzeroParams = tf.tidy(() =>
      this.prunableIndices().reduce((acc, i) => acc + tf.sum(tf.cast(tf.notEqual(this.weights[i], 0), 'float32')).dataSync()[0], 0),
    );
    return { step: this.step, tokens: this.tokens, valLoss, metrics, layers, deadRatio, nonzeroParams, measureSeconds };
  }

  async checkpoint(): Promise<Uint8Array> {
    return encodeCheckpoint(this.checkpointContents());
  }

  checkpointContents(): CheckpointContents {
    return {
      counters: { ...this.counters },
      groups: { params: this.weights, 'adam.m': this.adam.m, 'adam.v': this.adam.v, masks: this.masks },
    };
  }

  /** Current parameter values (copies), for tests and tools. */
  paramValues(): Float32Array[] {
    return this.weights.map((p) => p.dataSync() as Float32Array);
  }

  dispose(): void {
    tf.dispose([...this.weights, ...this.adam.m, ...this.adam.v]);
    tf.dispose(this.masks.filter((m): m is tf.Tensor => m != null));
    this.data.dispose();
    this.network.dispose();
    this.microbatches.dispose();
    this.weights = [];
    this.masks = [];
  }
}
