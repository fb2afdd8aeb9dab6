// Every activity a worker registers, bound to the resources of its process.
import type { Db } from '../db/connect';
import { createBookkeeping } from './bookkeeping';
import { createTrainSegment } from './trainSegment';
import { createCollectCheckpointGarbage } from './collectGarbage';
import { createFitSweep } from './fitSweep';
import { createLadderActivities } from './ladder';
import type { BackendName, EnginePaths } from '../engine/types';
import type { StoreRegistry } from '../stores';

export interface ActivityDeps {
  db: Db;
  /** Who runs the activity, recorded on each run (`host:pid/slot`). */
  workerName: string;
  /** Backend a training slot asks for; the engine falls back when it is not available. */
  backend?: BackendName;
  /** Where the engine caches data and finds the native backend (the worker's host decides). */
  paths: EnginePaths;
  /** This worker's default checkpoint store URI (`postgres`, `file:///…`, `s3://…`); a sweep may name another. */
  checkpointStore: string;
  /** The stores this process has opened, by URI. */
  stores: StoreRegistry;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createBookkeeping(deps.db, deps.stores),
    trainSegment: createTrainSegment(deps),
    fitSweep: createFitSweep(deps.db),
    collectCheckpointGarbage: createCollectCheckpointGarbage(deps.db, deps.stores, deps.checkpointStore),
    ...createLadderActivities(deps.db),
  };
}

export type SweepActivities = ReturnType<typeof createActivities>;
