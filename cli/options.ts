import type { BackendName } from '../activities/train/types';

export type BackendNameOption = BackendName;
export const BACKENDS: BackendName[] = ['tensorflow', 'wasm', 'cpu'];
