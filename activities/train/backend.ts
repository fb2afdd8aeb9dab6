// Choosing and initialising the tfjs backend once per process.
import { selectBackend } from './backendSelect';
import type { BackendName } from './types';
import { installFastWasmKernels } from './wasmKernels';

let active: BackendName | null = null;

/**
 * Activates the training backend once per process (see backendSelect.ts): `preferred` (a
 * `--backend` flag) or SPARSITY_BACKEND is used or is an error; with neither, native TensorFlow
 * (tfjs-node / -gpu, installed by stack/nativeBackend.ts) → wasm → cpu, announcing a step down on
 * stderr in one line. Idempotent: once a backend is active it stays (switching mid-process would
 * strand every live tensor on the old backend).
 */
export async function initBackend(preferred?: BackendName): Promise<BackendName> {
  if (active) return active;
  const choice = await selectBackend({ flag: preferred });
  if (choice.notice) process.stderr.write(`${choice.notice}\n`);
  if (choice.backend === 'wasm') installFastWasmKernels();
  active = choice.backend;
  return active;
}

export function activeBackend(): BackendName | null {
  return active;
}
