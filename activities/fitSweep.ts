// Fitting a sweep's laws at its end (also `sparsity fit`). Filled in by the analysis wiring.
import type { Db } from '../db/connect';

export interface StoredFit {
  law: string;
  groupKey: string;
  params: Record<string, number>;
  status: string;
}

export function createFitSweep(db: Db) {
  return async function fitSweep(input: { sweepId: string }): Promise<StoredFit[]> {
    void db;
    void input;
    return [];
  };
}
