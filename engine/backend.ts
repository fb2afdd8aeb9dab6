// Choosing and initialising the tfjs backend once per process.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { projectRoot } from '../stack/paths';
import type { BackendName } from './types';
import { installFastWasmKernels } from './wasmKernels';

let active: BackendName | null = null;

/** Where `scripts/tfjs-node/install.sh` puts tfjs-node built against PyPI's TensorFlow library. */
function sideInstall(): string {
  return process.env.SPARSITY_TFJS_NODE ?? path.join(projectRoot(), '.sparsity', 'tfjs-node', 'node_modules', '@tensorflow', 'tfjs-node');
}

/** Registers tfjs-node's native backend if the package loads (it registers itself as 'tensorflow'). */
function tryNative(): boolean {
  // TensorFlow's C++ info lines (oneDNN, CPU features) are noise on every worker start.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', sideInstall()]) {
    try {
      require(pkg);
      return tf.findBackend('tensorflow') != null;
    } catch {
      // Not installed or its native library failed to load: fall through to the next choice.
    }
  }
  return false;
}

async function trySet(name: BackendName): Promise<boolean> {
  try {
    if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    if (name === 'cpu') require('@tensorflow/tfjs-backend-cpu');
    if (name === 'tensorflow' && !tryNative()) return false;
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Picks the fastest available backend: native TensorFlow (tfjs-node / -gpu) if `require` works,
 * else WebAssembly, else plain JS. `preferred` is tried first. Idempotent: once a backend is
 * active it stays (switching mid-process would strand every live tensor on the old backend).
 */
export async function initBackend(preferred?: BackendName): Promise<BackendName> {
  if (active) return active;
  const order: BackendName[] = ['tensorflow', 'wasm', 'cpu'];
  const candidates = preferred ? [preferred, ...order.filter((b) => b !== preferred)] : order;
  for (const name of candidates) {
    if (await trySet(name)) {
      await tf.ready();
      if (name === 'wasm') installFastWasmKernels();
      active = name;
      return name;
    }
  }
  throw new Error('initBackend: no tfjs backend could be initialised (tried tensorflow, wasm, cpu)');
}

export function activeBackend(): BackendName | null {
  return active;
}
