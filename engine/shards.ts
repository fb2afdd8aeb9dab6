// Data parallelism inside one run: the batch is always cut into the same microbatches (a pure
// function of the config), whose gradients are averaged. With `SPARSITY_TRAIN_THREADS=2` the second
// microbatch runs in a worker thread (its own wasm instance, i.e. a second core); with 1 both run
// here in turn. Either way the arithmetic is identical, so results and resumes are bit-exact
// whatever the thread count of the host.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../domain/spec';
import type { Batch, Network } from './model/network';
import { nativeBackendDir } from './backend';
import type { BackendName } from './types';

export interface WorkerInit {
  kind: 'init';
  model: ModelConfig;
  backend: BackendName;
  /** Where the main thread's native backend came from (a worker thread loads modules anew). */
  nativeBackendDir?: string;
}

export interface ShardRequest {
  kind: 'step';
  params: Float32Array[];
  inputs: ArrayBuffer;
  inputsShape: number[];
  inputsDtype: 'int32' | 'float32';
  labels: ArrayBuffer;
}

export interface ShardResult {
  loss: number;
  grads: ArrayBuffer[];
}

/** Rows (sequences or examples) below which a batch is not split: too small to gain from it. */
const MIN_ROWS_TO_SPLIT = 8;
/** Tokens (or examples) per batch below which a batch is not split. */
const MIN_TOKENS_TO_SPLIT = 4096;

/** Number of microbatches for a batch: 2 when the batch is even and large enough, else 1. */
export function microbatchCount(rows: number, tokensPerRow: number, minTokens = MIN_TOKENS_TO_SPLIT): number {
  return rows % 2 === 0 && rows >= MIN_ROWS_TO_SPLIT && rows * tokensPerRow >= minTokens ? 2 : 1;
}

/** Threads to use for one run's microbatches: `$SPARSITY_TRAIN_THREADS` (default 1). */
export function trainThreads(): number {
  const n = Number(process.env.SPARSITY_TRAIN_THREADS ?? '1');
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 2) : 1;
}

function rowsOf(batch: Batch, tokensPerRow: number): number {
  return batch.labels.size / tokensPerRow;
}

/** Microbatch `k` of `n`: a contiguous block of rows of inputs and labels. */
function microbatch(batch: Batch, k: number, n: number, tokensPerRow: number): Batch {
  const rows = rowsOf(batch, tokensPerRow);
  const per = rows / n;
  const inputs = batch.inputs.shape.length === 1
    ? tf.slice(batch.inputs, [k * per * tokensPerRow], [per * tokensPerRow])
    : tf.slice(batch.inputs, [k * per, 0], [per, -1]);
  const labels = tf.slice(batch.labels, [k * per * tokensPerRow], [per * tokensPerRow]);
  return { inputs, labels };
}

export class MicrobatchRunner {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;

  constructor(
    private readonly network: Network,
    private readonly model: ModelConfig,
    private readonly backend: BackendName,
    /** Tokens per batch row: seqLen for the Transformer, 1 for the MLP. */
    private readonly tokensPerRow: number,
    private readonly threads: number,
    /** Split threshold in tokens (tests lower it to exercise splitting on tiny batches). */
    private readonly minTokensToSplit = MIN_TOKENS_TO_SPLIT,
  ) {}

  private startWorker(): Promise<void> {
    if (!this.ready) {
      const ext = path.extname(__filename);
      const entry = path.join(__dirname, `shardWorker${ext}`);
      // Running from TypeScript sources (tsx): loader hooks registered with --import do not reach
      // worker threads on Node 20, so the worker registers tsx's CommonJS hook itself.
      this.worker =
        ext === '.ts'
          ? new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(entry)});`, { eval: true })
          : new Worker(entry);
      const w = this.worker;
      this.ready = new Promise((resolve, reject) => {
        w.once('message', (m: { kind: string; message?: string }) => {
          w.unref();
          if (m.kind === 'ready') resolve();
          else reject(new Error(`microbatch worker: ${m.message}`));
        });
        w.once('error', reject);
      });
      const init: WorkerInit = { kind: 'init', model: this.model, backend: this.backend, nativeBackendDir: nativeBackendDir() };
      w.postMessage(init);
    }
    return this.ready;
  }

  private remote(params: tf.Tensor[], mb: Batch): Promise<ShardResult> {
    const req: ShardRequest = {
      kind: 'step',
      params: params.map((p) => p.dataSync() as Float32Array),
      inputs: (mb.inputs.dataSync() as Int32Array | Float32Array).buffer as ArrayBuffer,
      inputsShape: mb.inputs.shape,
      inputsDtype: mb.inputs.dtype === 'int32' ? 'int32' : 'float32',
      labels: (mb.labels.dataSync() as Int32Array).buffer as ArrayBuffer,
    };
    const w = this.worker!;
    return new Promise((resolve, reject) => {
      // Referenced only while a request is in flight: an idle worker must not keep the process alive,
      // but a pending reply must (nothing else may be holding the event loop open).
      w.ref();
      const onError = (err: Error) => {
        w.off('message', onMessage);
        reject(err);
      };
      const onMessage = (m: ShardResult | { kind: 'error'; message: string }) => {
        w.off('error', onError);
        w.unref();
        if ('kind' in m) reject(new Error(`microbatch worker: ${m.message}`));
        else resolve(m);
      };
      w.once('message', onMessage);
      w.once('error', onError);
      w.postMessage(req);
    });
  }

  /** Mean loss and gradients over the whole batch (the caller disposes them). */
  async lossAndGrads(params: tf.Tensor[], batch: Batch): Promise<{ loss: tf.Scalar; grads: tf.Tensor[] }> {
    const n = microbatchCount(rowsOf(batch, this.tokensPerRow), this.tokensPerRow, this.minTokensToSplit);
    if (n === 1) return tf.tidy(() => this.network.lossAndGrads(params, batch));
    const mbs = [0, 1].map((k) => microbatch(batch, k, n, this.tokensPerRow));
    let second: Promise<ShardResult> | null = null;
    if (this.threads > 1) {
      await this.startWorker();
      second = this.remote(params, mbs[1]);
    }
    const first = tf.tidy(() => this.network.lossAndGrads(params, mbs[0]));
    let other: { loss: tf.Scalar; grads: tf.Tensor[] };
    if (second) {
      const r = await second;
      other = { loss: tf.scalar(r.loss), grads: r.grads.map((g, i) => tf.tensor(new Float32Array(g), params[i].shape, 'float32')) };
    } else {
      other = tf.tidy(() => this.network.lossAndGrads(params, mbs[1]));
    }
    tf.dispose(mbs.flatMap((m) => [m.inputs, m.labels]));
    // Same sum in the same order in both modes: (first + second) / 2.
    const merged = tf.tidy(() => ({
      loss: tf.mul(tf.add(first.loss, other.loss), 0.5) as tf.Scalar,
      grads: first.grads.map((g, i) => tf.mul(tf.add(g, other.grads[i]), 0.5)),
    }));
    tf.dispose([first.loss, ...first.grads, other.loss, ...other.grads]);
    return merged;
  }

  dispose(): void {
    void this.worker?.terminate();
    this.worker = null;
    this.ready = null;
  }
}
