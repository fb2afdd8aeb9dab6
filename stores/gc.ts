// Garbage collection of checkpoint blobs that no committed `checkpoints` row points to: those
// of a worker that died between upload and commit, superseded blobs a worker could not delete,
// blobs of runs that completed or were deleted, and leftovers of failed puts.
//
// Safety rests on age alone (no table of uploads in flight): a commit writes its blob first and
// its pointer within one put + commit time after, so a blob older than the grace period that no
// row points to can no longer become live, provided the grace period is much longer than the
// slowest put + commit. Names are unique per put, so a late retry never recreates a name gc is
// deleting.
import type { Db } from '../db/connect';
import { blobReferenced } from '../db/ladders';
import { S3Store } from './s3';
import type { CheckpointStore } from './types';

/** Default grace period: one hour, far above the put + commit time of a multi-GB checkpoint. */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

export interface GcResult {
  store: string;
  /** Blobs older than the grace period. */
  examined: number;
  deleted: number;
  /** Blobs older than the grace period that a checkpoint row points to. */
  live: number;
  freedBytes: number;
  /** S3 multipart uploads older than the grace period, aborted. */
  abortedUploads: number;
}

/**
 * Deletes every blob of `store` last written more than `graceMs` ago that no `checkpoints` row
 * points to. Each blob is checked against the table just before it is deleted.
 */
export async function gcStore(db: Db, store: CheckpointStore, opts: { graceMs?: number; log?: (m: string) => void } = {}): Promise<GcResult> {
  const graceMs = opts.graceMs ?? DEFAULT_GC_GRACE_MS;
  if (!(graceMs >= 0)) throw new Error(`gc: grace period must be ≥ 0 ms (got ${graceMs})`);
  const result: GcResult = { store: store.uri, examined: 0, deleted: 0, live: 0, freedBytes: 0, abortedUploads: 0 };
  for await (const blob of store.list({ olderThanMs: graceMs })) {
    result.examined++;
    if (await blobReferenced(db, blob.uri)) {
      result.live++;
      continue;
    }
    await store.delete(blob.uri);
    result.deleted++;
    result.freedBytes += blob.bytes;
    opts.log?.(`gc: deleted ${blob.uri} (${blob.bytes} bytes, written ${blob.modifiedAt.toISOString()})`);
  }
  if (store instanceof S3Store) result.abortedUploads = await store.abortStaleUploads({ olderThanMs: graceMs });
  return result;
}
