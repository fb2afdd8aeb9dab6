// The device a training process runs on, for provenance (runs.device). The CPU case is known
// here; a GPU backend reports its own fields (see DeviceInfo).
import os from 'node:os';
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
export function describeDevice(d: DeviceInfo | null | undefined): string {
  if (!d) return '';
  if (d.kind === 'gpu') {
    const mem = d.gpuMemoryMiB ? ` (${Math.round(d.gpuMemoryMiB / 1024)} GiB)` : '';
    return `gpu ${d.gpuName ?? 'unknown'}${mem}${d.tf32 !== undefined ? ` tf32=${d.tf32 ? 'on' : 'off'}` : ''}`;
  }
  return `cpu ${d.cpuModel ?? 'unknown'}${d.cpuCores ? ` x${d.cpuCores}` : ''} (${d.backend})`;
}

/**
 * The device of this training process. CPU only for now: the native TensorFlow backend on a GPU
 * reports its own DeviceInfo (GPU fields) and replaces this for `tensorflow` on a GPU host.
 */
export function deviceInfo(backend: BackendName, slot?: number): DeviceInfo {
  return cpuDeviceInfo(backend, slot);
}
