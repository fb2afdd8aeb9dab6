// Choosing and initialising the tfjs backend once per process.
import * as tf from '@tensorflow/tfjs-core';
import { BACKENDS, type BackendName } from './types';
import { installFastWasmKernels } from './wasmKernels';

let active: BackendName | null = null;
/** The side install the active native backend came from: worker threads load the same one. */
let nativeDir: string | undefined;

/** Registers tfjs-node's native backend if the package loads (it registers itself as 'tensorflow'). */
function tryNative(sideInstall: string | undefined): boolean {
  // TensorFlow's C++ info lines (oneDNN, CPU features) are noise on every worker start.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const packages = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', ...(sideInstall ? [sideInstall] : [])];
  for (const pkg of packages) {
    try {
      require(pkg);
      return tf.findBackend('tensorflow') != null;
    } catch {
      // Not installed or its native library failed to load: fall through to the next choice.
    }
  }
  return false;
}

async function trySet(name: BackendName, sideInstall: string | undefined): Promise<boolean> {
  try {
    if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    if (name === 'cpu') require('@tensorflow/tfjs-backend-cpu');
    if (name === 'tensorflow' && !tryNative(sideInstall)) return false;
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
export async function initBackend(preferred?: BackendName, nativeBackendDir?: string): Promise<BackendName> {
  if (active) return active;
  const candidates = preferred ? [preferred, ...BACKENDS.filter((b) => b !== preferred)] : BACKENDS;
  for (const name of candidates) {
    if (await trySet(name, nativeBackendDir)) {
      if (name === 'tensorflow') nativeDir = nativeBackendDir;
      await tf.ready();
      if (name === 'wasm') installFastWasmKernels();
      active = name;
      return name;
    }
  }
  throw new Error('initBackend: no tfjs backend could be initialised (tried tensorflow, wasm, cpu)');
}

/** The side install the native backend was loaded from, if it came from one. */
export function nativeBackendDir(): string | undefined {
  return nativeDir;
}
