// Choosing and initialising the tfjs backend once per process (the rules: backendSelect.ts).
import { loadedNativeDir, selectBackend } from './backendSelect';
import type { BackendName, NativeCandidate } from './types';
import { installFastWasmKernels } from './wasmKernels';

let active: BackendName | null = null;

/**
 * Activates the training backend once per process: `preferred` (a `--backend` flag) or
 * SPARSITY_BACKEND is used or is an error; with neither, native TensorFlow (from `nativeCandidates`,
 * installed by stack/nativeBackend.ts) → wasm → cpu, announcing a step down on stderr in one line.
 * Idempotent: once a backend is active it stays (switching mid-process would strand every live
 * tensor on the old backend).
 */
export async function initBackend(preferred?: BackendName, nativeCandidates: readonly NativeCandidate[] = []): Promise<BackendName> {
  if (active) return active;
  const choice = await selectBackend({ flag: preferred, nativeCandidates });
  if (choice.notice) process.stderr.write(`${choice.notice}\n`);
  if (choice.backend === 'wasm') installFastWasmKernels();
  active = choice.backend;
  return active;
}

/** The tfjs-node package the native backend was loaded from (worker threads load the same one). */
export function nativeBackendDir(): string | undefined {
  return loadedNativeDir() ?? undefined;
}
