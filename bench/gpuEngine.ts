// One process of `bench train --device cuda` on our side: loads the GPU build of the native
// backend (the parent sets SPARSITY_DEVICE=gpu, CUDA_VISIBLE_DEVICES and CUDA_CACHE_PATH), times
// trainer creation and the first step (where the CUDA driver JIT-compiles TensorFlow's sm_90 PTX
// unless CUDA_CACHE_PATH already holds it), then steady-state steps and the matmul peak, and says
// where the tensors live. A fresh process per measurement: a cold or warm first step exists only
// once per process.
//
//   node dist/bench/gpuEngine.js '<EngineJob JSON>'   → last stdout line: EngineRun JSON
import * as tf from '@tensorflow/tfjs-core';
import { assertOnGpu, describeDevice } from '../engine/backendSelect';
import { createTrainer, initBackend } from '../engine';
import type { DeviceReport } from '../engine/device';
import type { BackendName } from '../engine/types';
import type { RunConfig, TransformerModelConfig } from '../domain/spec';
import { enginePaths } from '../stack/paths';

export interface EngineJob {
  model: TransformerModelConfig;
  batchSize: number;
  steps: number;
  /** n of the n³ matmul peak (8192 on a GPU). */
  peakSize: number;
  /** Tests on CPU hosts: run on this backend and skip the on-GPU check. */
  backend?: BackendName;
  allowCpu?: boolean;
}

export interface EngineRun {
  backend: string;
  device: DeviceReport & { noGpuReason?: string };
  createSeconds: number;
  firstStepSeconds: number;
  tokensPerSec: number;
  secondsPerStep: number;
  peakGflops: number;
  peakSize: number;
  losses: number[];
}

export function benchConfig(model: TransformerModelConfig, batchSize: number, steps: number): RunConfig {
  return {
    model,
    data: { kind: 'brown', valSize: 8 },
    optim: { lr: 3e-4, schedule: 'cosine', warmup: 0.1, decay: 0.2, minLrRatio: 0.1, weightDecay: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, gradClip: 1 },
    training: { steps: steps + 2, batchSize, evalEvery: steps + 2 },
    pruning: { schedule: 'none', start: 0, end: 1, initialSparsity: 0, finalSparsity: 0, every: 1, scope: 'global' },
    measure: { metrics: ['exact'], primary: 'exact' },
    seed: 0,
  };
}

/**
 * Best GFLOP/s of an n³ float32 matMul, `reps` back to back per timing, synchronised by reading one
 * scalar of the last product (the GPU stream runs them in order): a full `dataSync` of an 8192²
 * product would time a 256 MB copy to the host instead.
 */
export function matmulPeak(n: number, reps: number, timings = 5): number {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const run = () => {
    let last: tf.Tensor | null = null;
    for (let i = 0; i < reps; i++) {
      last?.dispose();
      last = tf.matMul(a, b);
    }
    const s = tf.slice(last!, [0, 0], [1, 1]);
    s.dataSync();
    tf.dispose([s, last!]);
  };
  run();
  let best = 0;
  for (let i = 0; i < timings; i++) {
    const t = performance.now();
    run();
    best = Math.max(best, (reps * 2 * n ** 3) / ((performance.now() - t) / 1000) / 1e9);
  }
  tf.dispose([a, b]);
  return best;
}

export async function runEngineJob(job: EngineJob): Promise<EngineRun> {
  const paths = enginePaths();
  const backend = await initBackend(job.backend ?? 'tensorflow', paths.nativeCandidates);
  const t0 = performance.now();
  const trainer = await createTrainer(benchConfig(job.model, job.batchSize, job.steps), { paths, backend });
  const createSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await trainer.trainStep();
  const firstStepSeconds = (performance.now() - t1) / 1000;
  // Where the tensors live: after the first step, so the probe's own matmul does not warm the cache.
  const device = describeDevice(backend);
  if (!job.allowCpu) assertOnGpu(device, process.env.CUDA_VISIBLE_DEVICES ?? '?');
  await trainer.trainStep();
  const losses: number[] = [];
  const t2 = performance.now();
  for (let i = 0; i < job.steps; i++) losses.push((await trainer.trainStep()).loss);
  const seconds = (performance.now() - t2) / 1000;
  trainer.dispose();
  const tokensPerSec = (job.steps * job.batchSize * job.model.seqLen) / seconds;
  const peakGflops = matmulPeak(job.peakSize, device.kind === 'gpu' ? 10 : 1);
  return { backend, device, createSeconds, firstStepSeconds, tokensPerSec, secondsPerStep: seconds / job.steps, peakGflops, peakSize: job.peakSize, losses };
}

if (require.main === module) {
  runEngineJob(JSON.parse(process.argv[2] ?? '{}') as EngineJob)
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
