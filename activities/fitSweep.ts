// Fitting a sweep's laws (at the end of every sweep, and `sparsity fit`): load the stored
// runs, fit what they support (analysis/sweepFits.ts), upsert into `fits`.
import { Context } from '@temporalio/activity';
import { fitSweepData } from '../analysis/sweepFits';
import type { Db } from '../db/connect';
import { loadSweepData, storeFits, type StoredFit } from '../db/fits';

export function createFitSweep(db: Db) {
  return async function fitSweep(input: { sweepId: string; curveFrom?: number }): Promise<StoredFit[]> {
    let heartbeat: (d: string) => void = () => undefined;
    try {
      const ctx = Context.current();
      heartbeat = (d) => ctx.heartbeat(d);
    } catch {
      /* called from the CLI, outside an activity */
    }
    const data = await loadSweepData(db, input.sweepId);
    // Fits run in worker threads so this process keeps serving workflow tasks and heartbeats.
    const beat = setInterval(() => heartbeat('fitting'), 5000);
    try {
      const fits = await fitSweepData(data, { onProgress: heartbeat, workers: 2, curveFrom: input.curveFrom });
      return await storeFits(db, input.sweepId, fits);
    } finally {
      clearInterval(beat);
    }
  };
}
