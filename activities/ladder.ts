// Token-budget ladders (domain/ladder.ts): a branched run waits for its trunk's branch point and
// takes the trunk's points and state there (queries in db/ladders.ts).
import { ApplicationFailure } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
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

export function createLadderActivities(db: Db) {
  return {
    /**
     * Branches a run from its trunk once the trunk has committed the branch point. Until then each
     * attempt fails at once with the retryable, benign `BranchPointNotReady`: Temporal's retries
     * are the wait, so it holds no worker slot and adds nothing to the workflow history.
     */
    async branchFromTrunk(input: BranchInput): Promise<BranchOutcome> {
      const r = await adoptBranchPoint(db, { runId: input.runId, trunkRunId: input.trunkRunId, step: input.fromStep });
      if (r.status === 'adopted') return { branched: true, stepsDone: r.stepsDone };
      if (r.status === 'unavailable') return { branched: false, reason: r.reason };
      throw ApplicationFailure.create({
        message: `trunk ${input.trunkRunId} is at step ${r.trunkStep}; branch point ${input.fromStep} not committed yet`,
        type: 'BranchPointNotReady',
        category: ApplicationFailureCategory.BENIGN,
      });
    },
  };
}
