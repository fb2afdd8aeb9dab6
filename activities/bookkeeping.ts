// Short activities that move runs and sweeps between states (queries in db/runs.ts, db/sweeps.ts).
import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db/connect';
import { markRunFinished, markRunStarted } from '../db/runs';
import type { RunStatus, SweepStatus } from '../db/schema';
import { setSweepStatus } from '../db/sweeps';
import type { StoreRegistry } from '../stores';

export function createBookkeeping(db: Db, stores: StoreRegistry) {
  return {
    /** Marks a run running and says how far its committed checkpoint got. */
    async startRun(input: { runId: string }): Promise<{ stepsDone: number }> {
      const started = await markRunStarted(db, input.runId);
      if (!started) throw ApplicationFailure.nonRetryable(`run ${input.runId} is not in the database`, 'UnknownRun');
      return started;
    },

    /** Final state of a run; a completed run keeps its state whatever arrives later. */
    async finishRun(input: { runId: string; status: Exclude<RunStatus, 'pending' | 'running'>; error?: string }): Promise<{ finalValLoss: number | null }> {
      const { finalValLoss, releasedBlob } = await markRunFinished(db, input.runId, input.status, input.error ?? null);
      // A completed run needs no checkpoint; if deleting fails, `sparsity gc` collects it.
      if (releasedBlob) await stores.forBlob(releasedBlob).delete(releasedBlob).catch(() => undefined);
      return { finalValLoss };
    },

    /**
     * A sweep's status. `settleRuns`: nothing of this sweep will run again (its workflow failed),
     * so its pending and running runs are marked cancelled; a cancelled sweep always settles them.
     */
    async setSweepStatus(input: { sweepId: string; status: SweepStatus; message?: string; settleRuns?: boolean }): Promise<void> {
      await setSweepStatus(db, { ...input, settleRuns: input.settleRuns === true || input.status === 'cancelled' });
    },
  };
}
