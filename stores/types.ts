// What every checkpoint store offers: immutable blobs put from a byte stream, read back as a
// stream verified against the sha256 the pointer row recorded, deleted, and listed by age for
// garbage collection of blobs that no committed checkpoint row points to.

import { UsageError } from '../domain/errors';

export type StoreBackend = 'file' | 's3' | 'postgres';

export interface PutOptions {
  /** The run the checkpoint belongs to; part of the blob's name ([A-Za-z0-9._-], not `.`/`..`). */
  runId: string;
  /** Bytes the caller expects to write, when known: a store with a size limit refuses before writing. */
  expectedBytes?: number;
}

/** A stored blob: what the `checkpoints` pointer row records. */
export interface StoredBlob {
  /** Where the blob lives, a URI under the store's own (file:///…, s3://…, postgres:…). */
  uri: string;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  bytes: number;
}

export interface ListedBlob {
  uri: string;
  bytes: number;
  /** When the store last wrote it (the store's clock: file mtime, S3 LastModified, database now()). */
  modifiedAt: Date;
}

export interface CheckpointStore {
  readonly backend: StoreBackend;
  /** The store's URI as given to openStore (normalised). */
  readonly uri: string;
  /** Largest blob the store takes, in bytes; undefined: no limit of its own. */
  readonly maxBytes?: number;
  /**
   * Writes the chunks as one new immutable blob and returns its name and digest. Nothing is
   * visible under the returned URI until every byte is durable; a failed put leaves at most a
   * temporary object that gc() collects after its grace period. A yielded chunk must not be
   * modified afterwards (a store may still be writing it while the next one is produced).
   */
  put(chunks: AsyncIterable<Uint8Array>, opts: PutOptions): Promise<StoredBlob>;
  /**
   * Reads a blob as a stream of chunks, hashing as it goes; the stream fails with
   * ChecksumMismatchError after the last byte if the digest or length differs from `expected`
   * (the consumer must not trust what it decoded until the stream ends without error), and with
   * BlobNotFoundError if nothing is stored under the URI.
   */
  get(expected: StoredBlob): AsyncIterable<Uint8Array>;
  /** Removes a blob; removing one that is not there is not an error. */
  delete(uri: string): Promise<void>;
  /** Blobs (and leftovers of failed puts) last written more than `olderThanMs` ago. */
  list(opts: { olderThanMs: number }): AsyncIterable<ListedBlob>;
  /** Whether a blob URI belongs to this store. */
  owns(uri: string): boolean;
  /** Releases connections the store opened itself (never the caller's database). */
  close(): Promise<void>;
}

/** A bad store URI or store setting: a user error (exit 2 at the CLI). */
export class StoreConfigError extends UsageError {
  override name = 'StoreConfigError';
}

/**
 * A blob whose bytes do not hash to what its pointer recorded. The same bytes fail on every
 * worker, so the activity should raise it as a non-retryable failure naming the run and URI.
 */
export class ChecksumMismatchError extends Error {
  override name = 'ChecksumMismatchError';
  constructor(
    readonly uri: string,
    readonly expected: { sha256: string; bytes: number },
    readonly actual: { sha256: string; bytes: number },
  ) {
    super(
      `checkpoint blob ${uri} is corrupt: expected ${expected.bytes} bytes with sha256 ${expected.sha256}, ` +
        `read ${actual.bytes} bytes with sha256 ${actual.sha256}`,
    );
  }
}

/** No blob under the URI (deleted, or the store is not the one every worker mounts). */
export class BlobNotFoundError extends Error {
  override name = 'BlobNotFoundError';
  constructor(readonly uri: string, detail?: string) {
    super(`checkpoint blob ${uri} does not exist${detail ? ` (${detail})` : ''}`);
  }
}

/** A checkpoint larger than the postgres store takes: the message names the stores that do. */
export class CheckpointTooLargeError extends Error {
  override name = 'CheckpointTooLargeError';
  constructor(readonly runId: string, readonly bytes: number, readonly limitBytes: number, readonly atLeast: boolean) {
    super(
      `checkpoint of run ${runId} is ${atLeast ? 'over ' : ''}${formatBytes(bytes)}, above the postgres store's limit of ${formatBytes(limitBytes)}: ` +
        `choose a file:///shared/path or s3://bucket/prefix checkpoint store (SPARSITY_CHECKPOINT_STORE or --checkpoint-store)`,
    );
  }
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

const RUN_ID = /^[A-Za-z0-9._-]+$/;
export function checkRunId(runId: string): void {
  if (!RUN_ID.test(runId) || runId === '.' || runId === '..') {
    throw new StoreConfigError(`run id ${JSON.stringify(runId)} cannot name a checkpoint blob (allowed: letters, digits, . _ -)`);
  }
}
