// The embedded stack (`sparsity dev`, `sparsity demo`, the integration tests): a Temporal
// dev server, a real PostgreSQL and local workers, all stopped cleanly together.
import type { BackendName } from '../engine/types';
import { connect, migrateToLatest } from '../db/connect';
import type { Endpoints } from '../workers/connections';
import { forkTrainingSlots, runOrchestrationWorker, type SlotProcesses } from '../workers/worker';
import { startEmbeddedPostgres, startTemporalDevServer, type RunningService } from './embedded';
import { envEndpoints } from './endpoints';
import { enginePaths } from './paths';

export interface Stack {
  endpoints: Endpoints;
  stop(): Promise<void>;
}

/** Temporal and Postgres: from the environment where set, embedded under `home` otherwise. */
export async function startStack(opts: { home: string; temporalPort?: number; uiPort?: number; log: (m: string) => void }): Promise<Stack> {
  const env = envEndpoints();
  const services: RunningService[] = [];
  const stopAll = async () => {
    for (const s of services.reverse()) await s.stop().catch(() => undefined);
  };
  try {
    let databaseUrl = env.databaseUrl;
    if (!databaseUrl) {
      opts.log('starting embedded PostgreSQL ...');
      const pg = await startEmbeddedPostgres({ home: opts.home, log: opts.log });
      services.push(pg);
      databaseUrl = pg.databaseUrl;
    }
    let temporalAddress = env.temporalAddress;
    let uiUrl: string | undefined;
    if (!temporalAddress) {
      opts.log('starting the Temporal dev server ...');
      const t = await startTemporalDevServer({ home: opts.home, port: opts.temporalPort, uiPort: opts.uiPort, log: opts.log });
      services.push(t);
      temporalAddress = t.address;
      uiUrl = t.uiUrl;
    }
    const db = connect(databaseUrl, { max: 1 });
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    return { endpoints: { temporalAddress, databaseUrl, namespace: env.namespace ?? 'default', uiUrl }, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface LocalWorkers {
  stop(): Promise<void>;
  slots: SlotProcesses;
}

/** An orchestration worker in this process plus `slots` training processes. */
export function startLocalWorkers(
  endpoints: Endpoints,
  opts: { taskQueue: string; slots: number; backend?: BackendName; checkpointStore?: string; slotEnv?: (slot: number) => Record<string, string> },
): LocalWorkers {
  const abort = new AbortController();
  const paths = enginePaths();
  const checkpointStore = opts.checkpointStore ?? process.env.SPARSITY_CHECKPOINT_STORE ?? 'postgres';
  const orchestration = runOrchestrationWorker({ endpoints, taskQueue: opts.taskQueue, slots: opts.slots, paths, checkpointStore }, abort.signal);
  orchestration.catch((err: unknown) => process.stderr.write(`orchestration worker stopped: ${String(err)}\n`));
  const slots = forkTrainingSlots({ endpoints, taskQueue: opts.taskQueue, slots: opts.slots, backend: opts.backend, paths, checkpointStore, slotEnv: opts.slotEnv });
  return {
    slots,
    async stop() {
      abort.abort();
      await Promise.all([orchestration.catch(() => undefined), slots.stop()]);
    },
  };
}
