// Checkpoint stores, chosen by URI: `postgres` (inline in the sparsity database),
// `file:///shared/path` (a directory every worker mounts) or `s3://bucket/prefix`
// (any S3-compatible store). See types.ts for the contract, gc.ts for garbage collection.
import type { Db } from '../db/connect';
import { FileStore } from './file';
import { PostgresStore, type PostgresStoreOptions } from './postgres';
import { S3Store, type S3StoreOptions } from './s3';
import { StoreConfigError, type CheckpointStore } from './types';

export * from './types';
export { FileStore } from './file';
export { S3Store, type S3StoreOptions } from './s3';
export { PostgresStore, type PostgresStoreOptions } from './postgres';
export { gcStore, DEFAULT_GC_GRACE_MS, type GcResult } from './gc';

export interface OpenStoreOptions {
  /** The sparsity database: required by the postgres store, which keeps blobs there. */
  db?: Db;
  postgres?: PostgresStoreOptions;
  s3?: S3StoreOptions;
}

const EXPECTED = 'expected postgres, file:///absolute/path or s3://bucket/prefix';

/**
 * Opens the store a URI names. Errors (StoreConfigError, a user error): an unknown scheme, a
 * relative or remote-host file URI, a missing or invalid bucket, `postgres://host/...` (the
 * postgres store is the sparsity database itself), postgres without a database connection.
 */
export function openStore(uri: string, opts: OpenStoreOptions = {}): CheckpointStore {
  const trimmed = uri.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (trimmed === 'postgres' || scheme === 'postgres' || scheme === 'postgresql') {
    if (trimmed !== 'postgres' && trimmed !== 'postgres:') {
      throw new StoreConfigError(
        `checkpoint store ${JSON.stringify(uri)}: the postgres store keeps checkpoints in the sparsity database itself; write \`postgres\`, not a connection URL`,
      );
    }
    if (!opts.db) throw new StoreConfigError('the postgres checkpoint store needs the database connection');
    return new PostgresStore(opts.db, opts.postgres);
  }
  if (scheme === 'file') {
    if (!trimmed.startsWith('file:///') && !trimmed.startsWith('file://localhost/')) {
      throw new StoreConfigError(`checkpoint store ${JSON.stringify(uri)}: a file store needs an absolute path on this host (file:///shared/path)`);
    }
    return new FileStore(trimmed);
  }
  if (scheme === 's3') return new S3Store(trimmed, opts.s3);
  if (!scheme) throw new StoreConfigError(`checkpoint store ${JSON.stringify(uri)} has no scheme (${EXPECTED})`);
  throw new StoreConfigError(`checkpoint store ${JSON.stringify(uri)}: unknown scheme "${scheme}:" (${EXPECTED})`);
}

/** Checks a store URI as `openStore` would (StoreConfigError naming it), without connecting to anything. */
export async function checkStoreUri(uri: string): Promise<void> {
  if (uri.trim() === 'postgres') return;
  await openStore(uri).close();
}

/**
 * Opens the store that holds a blob, from the blob's own URI (what a `checkpoints` row records),
 * so whichever worker resumes reads the blob where it was written, whatever its own default store.
 * Layouts: file:///<root>/<runId>/<name>, s3://<bucket>/<prefix>/<runId>/<name>, postgres:<runId>/<name>.
 */
export function openStoreForBlob(blobUri: string, opts: OpenStoreOptions = {}): CheckpointStore {
  if (blobUri.startsWith('postgres:')) return openStore('postgres', opts);
  const cut = (u: string) => {
    const parts = u.split('/');
    if (parts.length < 3) throw new StoreConfigError(`${JSON.stringify(blobUri)} is not a checkpoint blob URI`);
    return parts.slice(0, -2).join('/');
  };
  if (blobUri.startsWith('file:///')) return openStore(cut(blobUri), opts);
  if (blobUri.startsWith('s3://')) {
    const rest = blobUri.slice('s3://'.length);
    if (rest.split('/').length < 3) throw new StoreConfigError(`${JSON.stringify(blobUri)} is not a checkpoint blob URI`);
    return openStore(`s3://${cut(rest)}`, opts);
  }
  return openStore(blobUri, opts);
}

/**
 * The stores one process has open, by URI: each opened once and kept (an S3 client or a directory
 * handle is reused across segments), closed together when the worker stops.
 */
export class StoreRegistry {
  private readonly open_ = new Map<string, CheckpointStore>();
  constructor(private readonly opts: OpenStoreOptions) {}

  /** The store a URI names (`postgres`, `file:///…`, `s3://…`). */
  open(uri: string): CheckpointStore {
    const key = uri.trim();
    let store = this.open_.get(key);
    if (!store) {
      store = openStore(key, this.opts);
      this.open_.set(key, store);
    }
    return store;
  }

  /** The store holding a blob, from the blob's own URI (see openStoreForBlob). */
  forBlob(blobUri: string): CheckpointStore {
    for (const store of this.open_.values()) if (store.owns(blobUri)) return store;
    const store = openStoreForBlob(blobUri, this.opts);
    this.open_.set(store.uri, store);
    return store;
  }

  async close(): Promise<void> {
    await Promise.all([...this.open_.values()].map((s) => s.close().catch(() => undefined)));
    this.open_.clear();
  }
}
