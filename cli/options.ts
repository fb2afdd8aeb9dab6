import type { BackendName } from '../activities/train/types';

/** The `--backend` choices, fastest first. */
export const BACKENDS: BackendName[] = ['tensorflow', 'wasm', 'cpu'];
