// The device a training process runs on, for provenance (runs.device). The CPU case is known
// here; a GPU backend reports its own fields (see DeviceInfo).
import os from 'node:os';
import { describeDevice } from './backendSelect';
import type { BackendName, DeviceInfo } from './types';

/** The device of a process training on the CPU (`wasm`, `cpu`, or native TensorFlow without a GPU). */
export function cpuDeviceInfo(backend: BackendName, slot?: number): DeviceInfo {
  const cpus = os.cpus();
  return {
    kind: 'cpu',
    backend,
    ...(cpus.length ? { cpuModel: cpus[0].model.trim(), cpuCores: cpus.length } : {}),
    // Loaded here, not at import: the CLI shows devices without loading tfjs.
    tfjs: (require('@tensorflow/tfjs-core') as typeof import('@tensorflow/tfjs-core')).version_core,
    host: os.hostname(),
    ...(slot !== undefined ? { slot } : {}),
  };
}

/** One line naming a device, e.g. `gpu NVIDIA H200 (141 GiB)` or `cpu Intel Xeon ... ×16 (wasm)`. */
export function deviceLabel(d: DeviceInfo | null | undefined): string {
  if (!d) return '';
  if (d.kind === 'gpu') {
    const mem = d.gpuMemoryMiB ? ` (${Math.round(d.gpuMemoryMiB / 1024)} GiB)` : '';
    return `gpu ${d.gpuName ?? 'unknown'}${mem}${d.tf32 !== undefined ? ` tf32=${d.tf32 ? 'on' : 'off'}` : ''}`;
  }
  return `cpu ${d.cpuModel ?? 'unknown'}${d.cpuCores ? ` x${d.cpuCores}` : ''} (${d.backend})`;
}

let gpuReport: ReturnType<typeof describeDevice> | undefined;

/**
 * The device of this training process. On a GPU slot (native backend, SPARSITY_DEVICE=gpu) the GPU
 * fields come from TensorFlow's own device log and nvidia-smi (engine/backendSelect.ts
 * describeDevice, which starts a probe process: done once per process); otherwise the CPU's.
 */
export function deviceInfo(backend: BackendName, slot?: number): DeviceInfo {
  if (backend !== 'tensorflow' || process.env.SPARSITY_DEVICE !== 'gpu') return cpuDeviceInfo(backend, slot);
  gpuReport ??= describeDevice(backend);
  const r = gpuReport;
  if (r.kind !== 'gpu') return { ...cpuDeviceInfo(backend, slot), ...(r.tensorflow ? { tensorflow: r.tensorflow } : {}) };
  return {
    kind: 'gpu',
    backend,
    gpuName: r.gpuName,
    gpuMemoryMiB: r.gpuMemoryMiB,
    driver: r.driver,
    cuda: r.cuda,
    cudnn: r.cudnn,
    tensorflow: r.tensorflow,
    tfjs: r.tfjs,
    tf32: r.tf32,
    host: os.hostname(),
    ...(slot !== undefined ? { slot } : {}),
  };
}
