// What hardware a training process sees: `nvidia-smi` queries and TensorFlow's own device log.
// Pure parsers plus one synchronous `nvidia-smi` call, so the fake-`nvidia-smi` tests cover them.
import type { DeviceInfo } from './types';
import { spawnSync } from 'node:child_process';

/** One row of `nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader`. */
export interface NvidiaGpu {
  index: number;
  name: string;
  /** `memory.total`, MiB. */
  memoryMiB: number;
  driver: string;
}

export interface NvidiaSmiReport {
  gpus: NvidiaGpu[];
  /** The driver's version (same on every GPU of a host). */
  driver: string;
  /** Highest CUDA version the driver supports, from `nvidia-smi`'s header ("CUDA Version: 12.4"); null if absent. */
  cuda: string | null;
}

export const NVIDIA_QUERY_ARGS = ['--query-gpu=index,name,memory.total,driver_version', '--format=csv,noheader'];

/**
 * Parses the CSV rows of {@link NVIDIA_QUERY_ARGS}, e.g. `0, NVIDIA H200, 143771 MiB, 560.35.03`.
 * Throws on a row that does not have four fields with an integer index and a MiB figure.
 */
export function parseNvidiaGpuCsv(text: string): NvidiaGpu[] {
  const gpus: NvidiaGpu[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split(',').map((s) => s.trim());
    const mem = /^(\d+)\s*MiB$/.exec(f[2] ?? '');
    if (f.length !== 4 || !/^\d+$/.test(f[0]) || !mem) throw new Error(`unexpected nvidia-smi row: ${JSON.stringify(line)}`);
    gpus.push({ index: Number(f[0]), name: f[1], memoryMiB: Number(mem[1]), driver: f[3] });
  }
  return gpus;
}

/** The "CUDA Version: 12.4" field of plain `nvidia-smi`'s header, or null. */
export function parseCudaVersion(header: string): string | null {
  return /CUDA Version:\s*(\d+\.\d+)/.exec(header)?.[1] ?? null;
}

/**
 * Runs `nvidia-smi` from `env.PATH`. Returns null when it is not there (a CPU host); throws with
 * its stderr when it is there but fails (a driver/library mismatch, no device node).
 */
export function queryNvidiaSmi(env: NodeJS.ProcessEnv = process.env): NvidiaSmiReport | null {
  const run = (args: string[]) => spawnSync('nvidia-smi', args, { env, encoding: 'utf8', timeout: 30_000 });
  const q = run(NVIDIA_QUERY_ARGS);
  if (q.error && (q.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
  if (q.error || q.status !== 0) {
    const why = (q.stderr || q.stdout || String(q.error ?? `exit ${q.status}`)).trim().split('\n')[0];
    throw new Error(`nvidia-smi failed: ${why}`);
  }
  const gpus = parseNvidiaGpuCsv(q.stdout);
  const header = run([]);
  return { gpus, driver: gpus[0]?.driver ?? '', cuda: header.status === 0 ? parseCudaVersion(header.stdout) : null };
}

/** A GPU as TensorFlow created it (its INFO log line, see {@link parseTfDeviceLog}). */
export interface TfGpuDevice {
  /** Ordinal within the process (after CUDA_VISIBLE_DEVICES). */
  ordinal: number;
  name: string;
  /** Memory TensorFlow's allocator took, MB (TF's figure). */
  memoryMB: number;
  computeCapability: string;
}

/**
 * GPUs in TensorFlow's start-up log (needs TF_CPP_MIN_LOG_LEVEL=0). The line comes from
 * tensorflow/core/common_runtime/gpu/gpu_device.cc:
 * `Created device /job:localhost/replica:0/task:0/device:GPU:0 with 139264 MB memory:  -> device: 0, name: NVIDIA H200, pci bus id: 0000:19:00.0, compute capability: 9.0`
 */
export function parseTfDeviceLog(stderr: string): { gpus: TfGpuDevice[]; noGpuReason: string | null } {
  const gpus: TfGpuDevice[] = [];
  const re = /Created device \S*device:GPU:(\d+) with (\d+) MB memory:.*?name: (.*?), pci bus id: .*?compute capability: (\d+\.\d+)/g;
  for (const m of stderr.matchAll(re)) gpus.push({ ordinal: Number(m[1]), memoryMB: Number(m[2]), name: m[3], computeCapability: m[4] });
  // The lines TensorFlow prints when it cannot use a GPU, most specific first.
  const reasons = [
    /Could not load dynamic library '[^']+'[^\n]*/,
    /Cannot dlopen some GPU libraries[^\n]*/,
    /failed call to cuInit[^\n]*/,
    /Could not find cuda drivers on your machine[^\n]*/,
    /Ignoring visible gpu device[^\n]*/,
  ];
  let noGpuReason: string | null = null;
  if (gpus.length === 0) {
    for (const r of reasons) {
      const m = r.exec(stderr);
      if (m) {
        noGpuReason = m[0].trim();
        break;
      }
    }
  }
  return { gpus, noGpuReason };
}

/**
 * Where a backend trains, as the backend itself reports it (engine/backendSelect.ts describeDevice);
 * the fields of runs.device (DeviceInfo) that a probe can know, plus CUDA_VISIBLE_DEVICES.
 */
export type DeviceReport = Pick<DeviceInfo, 'kind' | 'gpuName' | 'gpuMemoryMiB' | 'driver' | 'cuda' | 'cudnn' | 'tensorflow' | 'tfjs' | 'tf32'> & {
  backend: string;
  /** CUDA_VISIBLE_DEVICES of the process, when set. */
  visibleDevices?: string;
};

/**
 * TF32: TensorFlow ≥ 2.4 runs float32 matmuls/convolutions in TF32 on Ampere and newer
 * (`tf.config.experimental.enable_tensor_float_32_execution`, default on); NVIDIA's libraries
 * honour NVIDIA_TF32_OVERRIDE=0 to turn it off process-wide.
 */
export function tf32Enabled(computeCapability: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return Number(computeCapability.split('.')[0]) >= 8 && env.NVIDIA_TF32_OVERRIDE !== '0';
}
