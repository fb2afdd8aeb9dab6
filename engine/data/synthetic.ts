// Synthetic classification sets for the MLP (Lazy Neuron setting).
// `teacher`: x ~ N(0, I), y = argmax of a fixed random ReLU teacher net; fresh examples every step.
// `random-labels`: a fixed pool of random inputs with uniformly random labels (pure memorisation);
// the validation batch is the head of that pool, so its loss measures how much was memorised.
import * as tf from '@tensorflow/tfjs-core';
import type { MlpModelConfig } from '../../domain/spec';
import { CounterRng, hash32, STREAM } from '../prng';
import type { Batch } from '../model/network';
import type { DataSource } from './source';

/** Size of the random-labels pool (examples). */
export const RANDOM_LABEL_POOL = 16384;

class Teacher {
  private readonly w1: tf.Tensor2D;
  private readonly w2: tf.Tensor2D;
  constructor(seed: number, inputDim: number, outputDim: number) {
    const hidden = Math.max(32, inputDim);
    this.w1 = tf.tensor2d(new CounterRng(seed, STREAM.teacher, 1).normals(inputDim * hidden, 1 / Math.sqrt(inputDim)), [inputDim, hidden]);
    this.w2 = tf.tensor2d(new CounterRng(seed, STREAM.teacher, 2).normals(hidden * outputDim, 1 / Math.sqrt(hidden)), [hidden, outputDim]);
  }
  labels(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => tf.argMax(tf.matMul(tf.relu(tf.matMul(x, this.w1)), this.w2), 1) as tf.Tensor1D);
  }
  dispose(): void {
    tf.dispose([this.w1, this.w2]);
  }
}

export class SyntheticData implements DataSource {
  readonly valBatch: Batch;
  readonly tokensPerStep: number;
  private readonly teacher: Teacher | null;

  constructor(
    private readonly model: MlpModelConfig,
    private readonly kind: 'teacher' | 'random-labels',
    private readonly seed: number,
    private readonly batchSize: number,
    valSize: number,
  ) {
    this.tokensPerStep = batchSize;
    this.teacher = kind === 'teacher' ? new Teacher(seed, model.inputDim, model.outputDim) : null;
    const valIds = Array.from({ length: valSize }, (_, i) => (kind === 'teacher' ? i : i % RANDOM_LABEL_POOL));
    this.valBatch = this.make(valIds, STREAM.valSet);
  }

  /** Inputs for example `id` of `stream`; labels from the teacher or from the id's own hash. */
  private make(ids: number[], stream: number): Batch {
    const d = this.model.inputDim;
    const x = new Float32Array(ids.length * d);
    ids.forEach((id, r) => x.set(new CounterRng(this.seed, stream, id).normals(d), r * d));
    const inputs = tf.tensor2d(x, [ids.length, d]);
    if (this.teacher) return { inputs, labels: this.teacher.labels(inputs) };
    const labels = Int32Array.from(ids, (id) => hash32(this.seed, STREAM.teacher, id) % this.model.outputDim);
    return { inputs, labels: tf.tensor1d(labels, 'int32') };
  }

  trainBatch(step: number): Batch {
    const ids = Array.from({ length: this.batchSize }, (_, r) =>
      this.kind === 'teacher' ? step * this.batchSize + r : hash32(this.seed, STREAM.batch, step, r) % RANDOM_LABEL_POOL,
    );
    // Teacher examples are fresh each step (an endless stream); random-label examples come from the
    // pool, whose inputs live in the validation stream so the validation batch is part of it.
    return this.make(ids, this.kind === 'teacher' ? STREAM.synthetic : STREAM.valSet);
  }

  dispose(): void {
    tf.dispose([this.valBatch.inputs, this.valBatch.labels]);
    this.teacher?.dispose();
  }
}
