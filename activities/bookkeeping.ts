// Short activities that move runs and sweeps between states in the database.
import { ApplicationFailure } from '@temporalio/activity';
import { sql } from 'kysely';
import type { Db } from '../db/connect';
import type { RunStatus, SweepStatus } from '../db/schema';
import { openStoreForBlob } from '../stores';

export function createBookkeeping(db: Db) {
  return {
    /** Marks a run running and says how far its committed checkpoint got. */
    async startRun(input: { runId: string }): Promise<{ stepsDone: number }> {
      const run = await db
        .updateTable('runs')
        .set({
          status: 'running',
          started_at: sql`coalesce(started_at, now())`,
          updated_at: sql`now()`,
          error: null,
        })
        .where('id', '=', input.runId)
        .where('status', 'in', ['pending', 'running'])
        .returning(['id'])
        .executeTakeFirst();
      if (!run) {
        const existing = await db.selectFrom('runs').select('status').where('id', '=', input.runId).executeTakeFirst();
        if (!existing) throw ApplicationFailure.nonRetryable(`run ${input.runId} is not in the database`, 'UnknownRun');
      }
      const ck = await db.selectFrom('checkpoints').select('step').where('run_id', '=', input.runId).executeTakeFirst();
      return { stepsDone: ck?.step ?? 0 };
    },

    /** Final state of a run; a completed run keeps its state whatever arrives later. */
    async finishRun(input: {
      runId: string;
      status: Exclude<RunStatus, 'pending' | 'running'>;
      error?: string;
    }): Promise<{ finalValLoss: number | null }> {
      const row = await db
        .updateTable('runs')
        .set({ status: input.status, error: input.error ?? null, finished_at: sql`now()`, updated_at: sql`now()` })
        .where('id', '=', input.runId)
        .where('status', '!=', 'completed')
        .returning(['final_val_loss'])
        .executeTakeFirst();
      if (input.status === 'completed') {
        // Checkpoints serve resumption only; failed and cancelled runs keep theirs so they can be resumed.
        const ck = await db.deleteFrom('checkpoints').where('run_id', '=', input.runId).returning('uri').executeTakeFirst();
        if (ck) {
          // No commit can still need it (a completed run takes no checkpoint); if this fails, gc collects it.
          const store = openStoreForBlob(ck.uri, { db });
          await store.delete(ck.uri).catch(() => undefined);
          await store.close();
        }
      }
      if (row) return { finalValLoss: row.final_val_loss };
      const done = await db.selectFrom('runs').select('final_val_loss').where('id', '=', input.runId).executeTakeFirst();
      return { finalValLoss: done?.final_val_loss ?? null };
    },

    async setSweepStatus(input: { sweepId: string; status: SweepStatus; message?: string }): Promise<void> {
      const finished = input.status === 'completed' || input.status === 'failed' || input.status === 'cancelled';
      await db.transaction().execute(async (tx) => {
        await tx
          .updateTable('sweeps')
          .set({
            status: input.status,
            message: input.message ?? null,
            finished_at: finished ? sql`now()` : null,
          })
          .where('id', '=', input.sweepId)
          .execute();
        // Runs that will never run again must not stay pending or running.
        const sweepEnded = input.status === 'cancelled' || (input.status === 'failed' && input.message?.startsWith('sweep workflow failed'));
        if (sweepEnded) {
          await tx
            .updateTable('runs')
            .set({
              status: 'cancelled',
              error: input.status === 'cancelled' ? 'sweep cancelled' : 'sweep workflow failed',
              finished_at: sql`now()`,
              updated_at: sql`now()`,
            })
            .where('sweep_id', '=', input.sweepId)
            .where('status', 'in', ['pending', 'running'])
            .execute();
        }
      });
    },
  };
}
