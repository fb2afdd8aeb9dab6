// Every activity a worker registers, bound to the resources of its process.
import type { Db } from '../db/connect';
import { createBookkeeping } from './bookkeeping';
import { createTrainSegment } from './trainSegment';
import { createFitSweep } from './fitSweep';
import type { BackendName, EnginePaths } from '../engine/types';
import type { CodeProvenance } from '../domain/provenance';

export interface ActivityDeps {
  db: Db;
  /** Who runs the activity, recorded on each run (`host:pid/slot`). */
  workerName: string;
  /** Backend a training slot asks for; the engine falls back when it is not available. */
  backend?: BackendName;
  /** Where the engine caches data and finds the native backend (the worker's host decides). */
  paths: EnginePaths;
  /** The code this process runs, recorded with every segment (workers/provenance.ts). */
  code: CodeProvenance;
  /** Training slot number on this host. */
  slot?: number;
  /** True once the slot was asked to stop (SIGTERM): a segment returns at its next eval point. */
  draining?: () => boolean;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createBookkeeping(deps.db),
    trainSegment: createTrainSegment(deps),
    fitSweep: createFitSweep(deps.db),
  };
}

export type SweepActivities = ReturnType<typeof createActivities>;
