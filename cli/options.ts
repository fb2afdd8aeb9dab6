import type { BackendName } from '../engine/types';

/** The `--backend` choices, fastest first. */
export const BACKENDS: BackendName[] = ['tensorflow', 'wasm', 'cpu'];
