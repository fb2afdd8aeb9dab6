// Checkpoint garbage collection (`sparsity gc`, and at the end of every sweep): blobs that no
// committed `checkpoints` row points to, older than the grace period, in every store in use.
import { Context } from '@temporalio/activity';
import type { Db } from '../db/connect';
import { checkpointUris } from '../db/runs';
import { findSweep } from '../db/sweeps';
import { DEFAULT_GC_GRACE_MS, gcStore, type GcResult, type StoreRegistry } from '../stores';

/**
 * Collects in the worker's default store, the sweep's own store (when given) and every store a
 * committed row points into. Safe at any time: a blob is deleted only if it is older than `graceMs`
 * (far longer than any upload + commit) and no row points to it just before deletion.
 */
export async function collectGarbage(db: Db, stores: StoreRegistry, opts: { storeUris: string[]; graceMs?: number; log?: (m: string) => void }): Promise<GcResult[]> {
  const seen = new Set<string>();
  const targets = [...opts.storeUris.map((u) => stores.open(u)), ...(await checkpointUris(db)).map((u) => stores.forBlob(u))];
  const results: GcResult[] = [];
  for (const store of targets) {
    if (seen.has(store.uri)) continue;
    seen.add(store.uri);
    results.push(await gcStore(db, store, { graceMs: opts.graceMs ?? DEFAULT_GC_GRACE_MS, log: opts.log }));
  }
  return results;
}

export function createCollectCheckpointGarbage(db: Db, stores: StoreRegistry, defaultStore: string) {
  return async function collectCheckpointGarbage(input: { sweepId: string }): Promise<GcResult[]> {
    const sweep = await findSweep(db, input.sweepId);
    const uris = [defaultStore, ...(sweep?.spec.checkpointStore ? [sweep.spec.checkpointStore] : [])];
    const beat = setInterval(() => Context.current().heartbeat('collecting'), 5000);
    try {
      return await collectGarbage(db, stores, { storeUris: uris });
    } finally {
      clearInterval(beat);
    }
  };
}
