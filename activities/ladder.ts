// Token-budget ladders (domain/ladder.ts): a branched run waits for its trunk's branch point and
// takes the trunk's points and state there (queries in db/ladders.ts).
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db/connect';
import { adoptBranchPoint } from '../db/ladders';

export interface BranchInput {
  runId: string;
  trunkRunId: string;
  /** The trunk step this run branches from (its own WSD decay start). */
  fromStep: number;
}

export type BranchOutcome =
  /** The run starts training at `stepsDone` (the branch step, or further on a retry). */
  | { branched: true; stepsDone: number }
  /** The trunk will never reach the branch point: the run trains from scratch (same numbers, more steps). */
  | { branched: false; reason: string };

/** How long one attempt polls before handing back to Temporal's retry (which then backs off). */
const POLL_MS = 30_000;

export function createLadderActivities(db: Db) {
  return {
    /**
     * Branches a run from its trunk once the trunk has committed the branch point. Until then it
     * fails with the retryable `BranchPointNotReady`, so the wait costs no workflow history.
     */
    async branchFromTrunk(input: BranchInput): Promise<BranchOutcome> {
      const ctx = Context.current();
      const deadline = Date.now() + POLL_MS;
      for (;;) {
        const r = await adoptBranchPoint(db, { runId: input.runId, trunkRunId: input.trunkRunId, step: input.fromStep });
        if (r.status === 'adopted') return { branched: true, stepsDone: r.stepsDone };
        if (r.status === 'unavailable') return { branched: false, reason: r.reason };
        ctx.heartbeat({ trunkStep: r.trunkStep });
        if (Date.now() >= deadline) {
          throw ApplicationFailure.retryable(
            `trunk ${input.trunkRunId} is at step ${r.trunkStep}, branch point ${input.fromStep} not committed yet`,
            'BranchPointNotReady',
          );
        }
        await ctx.sleep(1000);
      }
    },
  };
}
