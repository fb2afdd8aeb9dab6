// GPU hosts: which TensorFlow + CUDA wheels fit the driver, which GPUs a worker trains on, and the
// environment of a GPU training slot. Pure functions over `nvidia-smi`'s report (tested with a
// fake `nvidia-smi`); stack/nativeBackend.ts runs the install they plan.
import path from 'node:path';
import type { NvidiaSmiReport } from '../engine/device';

/** A malformed `--gpus` value or a GPU host that cannot be served (exit 2: the user's to fix). */
export class GpuSetupError extends Error {
  override name = 'GpuSetupError';
  readonly exitCode = 2;
}

/**
 * Minimum Linux x86_64 driver for each CUDA 12 toolkit (its GA release), from NVIDIA's CUDA
 * Toolkit Release Notes, table "CUDA Toolkit and Corresponding Driver Versions". CUDA 12's
 * "minor version compatibility" lets a ≥ 525.60.13 driver run any 12.x runtime, but NOT JIT-compile
 * PTX newer than the driver: PyPI's TensorFlow carries Hopper (sm_90) code only as PTX, so on
 * H100/H200 the driver must reach the toolkit's own minimum.
 */
export const CUDA_MIN_DRIVER: Readonly<Record<string, string>> = {
  '12.0': '525.60.13',
  '12.1': '530.30.02',
  '12.2': '535.54.03',
  '12.3': '545.23.06',
  '12.4': '550.54.14',
  '12.5': '555.42.02',
  '12.6': '560.28.03',
  '12.8': '570.26',
};

/** A CUDA build of TensorFlow on PyPI and the CUDA wheels `tensorflow[and-cuda]` pins for it. */
export interface TfCudaBuild {
  tensorflow: string;
  /** CUDA / cuDNN of TensorFlow's "tested build configurations" (tensorflow.org/install/source#gpu). */
  cuda: string;
  cudnn: string;
  /** `Requires-Dist: ...; extra == "and-cuda"` of the wheel's METADATA, verbatim pins. */
  wheels: readonly string[];
  /** Built and loaded against on a CPU host by this project (see scripts/tfjs-node/README.md). */
  linkTested: boolean;
}

// Pins copied from each wheel's METADATA (pip install --dry-run --report, 2026-12-02); the install
// script re-reads METADATA and refuses to go on if they differ. Newest first.
export const TF_CUDA_BUILDS: readonly TfCudaBuild[] = [
  {
    tensorflow: '2.19.1',
    cuda: '12.5',
    cudnn: '9.3',
    wheels: [
      'nvidia-cublas-cu12==12.5.3.2', 'nvidia-cuda-cupti-cu12==12.5.82', 'nvidia-cuda-nvcc-cu12==12.5.82',
      'nvidia-cuda-nvrtc-cu12==12.5.82', 'nvidia-cuda-runtime-cu12==12.5.82', 'nvidia-cudnn-cu12==9.3.0.75',
      'nvidia-cufft-cu12==11.2.3.61', 'nvidia-curand-cu12==10.3.6.82', 'nvidia-cusolver-cu12==11.6.3.83',
      'nvidia-cusparse-cu12==12.5.1.3', 'nvidia-nccl-cu12==2.23.4', 'nvidia-nvjitlink-cu12==12.5.82',
    ],
    linkTested: true,
  },
  {
    tensorflow: '2.17.1',
    cuda: '12.3',
    cudnn: '8.9',
    wheels: [
      'nvidia-cublas-cu12==12.3.4.1', 'nvidia-cuda-cupti-cu12==12.3.101', 'nvidia-cuda-nvcc-cu12==12.3.107',
      'nvidia-cuda-nvrtc-cu12==12.3.107', 'nvidia-cuda-runtime-cu12==12.3.101', 'nvidia-cudnn-cu12==8.9.7.29',
      'nvidia-cufft-cu12==11.0.12.1', 'nvidia-curand-cu12==10.3.4.107', 'nvidia-cusolver-cu12==11.5.4.101',
      'nvidia-cusparse-cu12==12.2.0.103', 'nvidia-nccl-cu12==2.19.3', 'nvidia-nvjitlink-cu12==12.3.101',
    ],
    linkTested: true,
  },
  {
    tensorflow: '2.15.1',
    cuda: '12.2',
    cudnn: '8.9',
    wheels: [
      'nvidia-cublas-cu12==12.2.5.6', 'nvidia-cuda-cupti-cu12==12.2.142', 'nvidia-cuda-nvcc-cu12==12.2.140',
      'nvidia-cuda-nvrtc-cu12==12.2.140', 'nvidia-cuda-runtime-cu12==12.2.140', 'nvidia-cudnn-cu12==8.9.4.25',
      'nvidia-cufft-cu12==11.0.8.103', 'nvidia-curand-cu12==10.3.3.141', 'nvidia-cusolver-cu12==11.5.2.141',
      'nvidia-cusparse-cu12==12.1.2.141', 'nvidia-nccl-cu12==2.16.5', 'nvidia-nvjitlink-cu12==12.2.140',
    ],
    linkTested: false,
  },
];

/** Compares dotted versions numerically ("550.54.14" vs "545.23.06"); negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface GpuInstallPlan {
  build: TfCudaBuild;
  driver: string;
  /** The CUDA the driver supports: nvidia-smi's header, else derived from the driver table. */
  driverCuda: string;
  gpus: NvidiaSmiReport['gpus'];
}

/**
 * The newest TensorFlow CUDA build whose toolkit the driver fully supports (see
 * {@link CUDA_MIN_DRIVER}). `forced` (SPARSITY_TF_VERSION) picks one from {@link TF_CUDA_BUILDS}.
 * Throws {@link GpuSetupError} for a host with no GPU, an unknown forced version, or a driver
 * older than CUDA 12.2's minimum.
 */
export function planGpuInstall(smi: NvidiaSmiReport | null, forced?: string): GpuInstallPlan {
  if (!smi) throw new GpuSetupError('GPU backend requested but nvidia-smi is not on PATH: install the NVIDIA driver, or train on CPU (drop --gpus)');
  if (smi.gpus.length === 0) throw new GpuSetupError('GPU backend requested but nvidia-smi lists no GPU');
  const driverCuda =
    smi.cuda ??
    Object.entries(CUDA_MIN_DRIVER)
      .filter(([, min]) => compareVersions(smi.driver, min) >= 0)
      .map(([cuda]) => cuda)
      .sort(compareVersions)
      .pop() ??
    'none';
  const fits = (b: TfCudaBuild) => compareVersions(smi.driver, CUDA_MIN_DRIVER[b.cuda]) >= 0 && driverCuda !== 'none' && compareVersions(driverCuda, b.cuda) >= 0;
  if (forced) {
    const build = TF_CUDA_BUILDS.find((b) => b.tensorflow === forced);
    if (!build) throw new GpuSetupError(`SPARSITY_TF_VERSION=${forced}: GPU builds known: ${TF_CUDA_BUILDS.map((b) => b.tensorflow).join(', ')}`);
    if (!fits(build)) throw new GpuSetupError(`SPARSITY_TF_VERSION=${forced} needs CUDA ${build.cuda} (driver ≥ ${CUDA_MIN_DRIVER[build.cuda]}); this host's driver ${smi.driver} supports CUDA ${driverCuda}`);
    return { build, driver: smi.driver, driverCuda, gpus: smi.gpus };
  }
  const build = TF_CUDA_BUILDS.find(fits);
  if (!build) {
    const oldest = TF_CUDA_BUILDS[TF_CUDA_BUILDS.length - 1];
    throw new GpuSetupError(
      `NVIDIA driver ${smi.driver} (CUDA ${driverCuda}) is too old: TensorFlow ${oldest.tensorflow} needs CUDA ${oldest.cuda}, driver ≥ ${CUDA_MIN_DRIVER[oldest.cuda]}; upgrade the driver`,
    );
  }
  return { build, driver: smi.driver, driverCuda, gpus: smi.gpus };
}

/**
 * `--gpus all` or `--gpus 0,1,3` → GPU indices (nvidia-smi's `index`), in the order given.
 * Throws {@link GpuSetupError} naming the bad value: not a list of integers, a repeated index,
 * an index the host lacks, or any GPU request on a host without nvidia-smi.
 */
export function parseGpusFlag(value: string, smi: NvidiaSmiReport | null): number[] {
  if (!smi) throw new GpuSetupError(`--gpus ${value}: nvidia-smi is not on PATH, so this host has no usable NVIDIA GPU`);
  const have = smi.gpus.map((g) => g.index);
  if (value.trim() === 'all') {
    if (have.length === 0) throw new GpuSetupError('--gpus all: nvidia-smi lists no GPU');
    return have;
  }
  const parts = value.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p)) throw new GpuSetupError(`--gpus ${JSON.stringify(value)}: expected "all" or a comma-separated list of GPU indices like 0,1,3 (bad entry ${JSON.stringify(p)})`);
    const i = Number(p);
    if (out.includes(i)) throw new GpuSetupError(`--gpus ${value}: GPU ${i} is listed twice`);
    if (!have.includes(i)) throw new GpuSetupError(`--gpus ${value}: no GPU ${i} on this host (nvidia-smi lists ${have.join(', ') || 'none'})`);
    out.push(i);
  }
  return out;
}

/** 4 GiB, the largest value CUDA accepts: room for PyPI TensorFlow's PTX kernels JIT-compiled for sm_90 (the default 256 MiB cache evicts them). */
export const CUDA_CACHE_MAXSIZE = String(4 * 2 ** 30);

/**
 * Environment of the training slot for GPU `index`: sees that GPU only, grows its memory instead
 * of reserving it all, keeps the CUDA JIT cache under the state directory (so only the first start
 * on a host compiles the PTX), and loads the GPU build (SPARSITY_DEVICE=gpu, see backendSelect.ts).
 */
export function gpuSlotEnv(index: number, stateDir: string): Record<string, string> {
  return {
    CUDA_VISIBLE_DEVICES: String(index),
    TF_FORCE_GPU_ALLOW_GROWTH: 'true',
    CUDA_CACHE_PATH: path.join(stateDir, 'cuda-cache'),
    CUDA_CACHE_MAXSIZE,
    SPARSITY_DEVICE: 'gpu',
  };
}
