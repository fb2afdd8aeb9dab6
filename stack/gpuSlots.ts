// `sparsity worker --gpus all|0,1,3`: what the worker does before forking one training slot per GPU.
import { queryNvidiaSmi } from '../engine/device';
import { sparsityHome } from './paths';
import { GpuSetupError, gpuSlotEnv, parseGpusFlag } from './gpuPlan';
import { ensureNativeBackend } from './nativeBackend';

export interface GpuSlot {
  gpu: number;
  /** Merged over the worker's environment when the slot is forked. */
  env: Record<string, string>;
}

/**
 * Parses `--gpus`, installs the GPU build of the native backend if needed (a GPU worker never
 * trains on wasm: an install that cannot happen is an error), and returns one slot per GPU.
 * Each slot must then check, once its backend is up, that it is on its GPU
 * (`assertOnGpu(describeDevice('tensorflow'), String(gpu))` in activities/train/backendSelect.ts).
 * Throws {@link GpuSetupError} (exit 2) with one line.
 */
export async function prepareGpuSlots(gpusFlag: string, opts: { stateDir?: string; env?: NodeJS.ProcessEnv; onProgress?: (l: string) => void } = {}): Promise<GpuSlot[]> {
  const env = opts.env ?? process.env;
  const stateDir = opts.stateDir ?? sparsityHome(env);
  const gpus = parseGpusFlag(gpusFlag, queryNvidiaSmi(env));
  if (env.SPARSITY_BACKEND && env.SPARSITY_BACKEND !== 'tensorflow') {
    throw new GpuSetupError(`--gpus ${gpusFlag} with SPARSITY_BACKEND=${env.SPARSITY_BACKEND}: only the tensorflow backend trains on GPUs`);
  }
  const r = await ensureNativeBackend({ variant: 'gpu', stateDir, env, onProgress: opts.onProgress });
  if (!r.ok) throw new GpuSetupError(`--gpus ${gpusFlag}: the GPU backend is not available: ${r.reason}`);
  return gpus.map((gpu) => ({ gpu, env: gpuSlotEnv(gpu, stateDir) }));
}
