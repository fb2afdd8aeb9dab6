// postgres: checkpoints inline in the sparsity database, for small models (the embedded
// default). A blob is rows of `checkpoint_blobs` (blob_key, seq, data ≤ chunkBytes), written in
// one transaction of its own: a put that dies leaves nothing, and no statement ever carries more
// than one chunk (a single bytea value is capped at 1 GB and is read back as a hex string, which
// Node caps at about 512 MiB). Above `maxBytes` a put is refused with one line naming the stores
// that take any size. Blob URIs: postgres:<runId>/<sha256>.<nonce>.ckpt (nonce: see file.ts).
import { sql } from 'kysely';
import type { Db } from '../db/connect';
import { POSTGRES_STORE_MAX_BYTES } from '../domain/defaults';
import { hashingTap, nonce, verified } from './hashing';
import {
  BlobNotFoundError,
  checkRunId,
  CheckpointTooLargeError,
  StoreConfigError,
  type CheckpointStore,
  type ListedBlob,
  type PutOptions,
  type StoredBlob,
} from './types';

const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

export interface PostgresStoreOptions {
  /** Largest checkpoint the store accepts, in bytes (default 256 MiB). */
  maxBytes?: number;
  /** Bytes a row (default 8 MiB, at most 16 MiB). */
  chunkBytes?: number;
}

export class PostgresStore implements CheckpointStore {
  readonly backend = 'postgres' as const;
  readonly uri = 'postgres:';
  readonly maxBytes: number;
  private readonly chunkBytes: number;

  constructor(
    private readonly db: Db,
    opts: PostgresStoreOptions = {},
  ) {
    this.maxBytes = opts.maxBytes ?? POSTGRES_STORE_MAX_BYTES;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!(this.maxBytes > 0)) throw new StoreConfigError(`postgres checkpoint store: maxBytes must be positive (got ${this.maxBytes})`);
    if (!(this.chunkBytes > 0 && this.chunkBytes <= MAX_CHUNK_BYTES)) {
      throw new StoreConfigError(`postgres checkpoint store: chunkBytes must be in 1..${MAX_CHUNK_BYTES} (got ${this.chunkBytes})`);
    }
  }

  owns(uri: string): boolean {
    return uri.startsWith('postgres:') && !uri.startsWith('postgres://');
  }

  private keyOf(uri: string): string {
    if (!this.owns(uri)) throw new StoreConfigError(`blob ${uri} is not in the postgres checkpoint store`);
    return uri.slice('postgres:'.length);
  }

  async put(chunks: AsyncIterable<Uint8Array>, opts: PutOptions): Promise<StoredBlob> {
    checkRunId(opts.runId);
    if (opts.expectedBytes !== undefined && opts.expectedBytes > this.maxBytes) {
      throw new CheckpointTooLargeError(opts.runId, opts.expectedBytes, this.maxBytes, false);
    }
    const tmpKey = `${opts.runId}/.tmp-${nonce()}.part`;
    const tap = hashingTap(chunks);
    // One reused buffer: pg copies a parameter into its outgoing message before the insert resolves.
    const buf = Buffer.allocUnsafe(this.chunkBytes);
    return this.db.transaction().execute(async (tx) => {
      let fill = 0;
      let seq = 0;
      let total = 0;
      const flush = async () => {
        if (fill === 0) return;
        await tx.insertInto('checkpoint_blobs').values({ blob_key: tmpKey, seq, data: buf.subarray(0, fill) }).execute();
        seq++;
        fill = 0;
      };
      for await (const c of tap.stream) {
        total += c.byteLength;
        if (total > this.maxBytes) throw new CheckpointTooLargeError(opts.runId, total, this.maxBytes, true);
        let at = 0;
        while (at < c.byteLength) {
          const n = Math.min(this.chunkBytes - fill, c.byteLength - at);
          buf.set(c.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === this.chunkBytes) await flush();
        }
      }
      await flush();
      const { sha256, bytes } = tap.result();
      const key = `${opts.runId}/${sha256}.${nonce()}.ckpt`;
      if (seq === 0) {
        // An empty blob still needs a row to exist.
        await tx.insertInto('checkpoint_blobs').values({ blob_key: key, seq: 0, data: Buffer.alloc(0) }).execute();
      } else {
        await tx.updateTable('checkpoint_blobs').set({ blob_key: key, created_at: sql`clock_timestamp()` }).where('blob_key', '=', tmpKey).execute();
      }
      return { uri: `postgres:${key}`, sha256, bytes };
    });
  }

  async *get(expected: StoredBlob): AsyncGenerator<Uint8Array> {
    const key = this.keyOf(expected.uri);
    const db = this.db;
    async function* rows(): AsyncGenerator<Uint8Array> {
      for (let seq = 0; ; seq++) {
        const row = await db.selectFrom('checkpoint_blobs').select('data').where('blob_key', '=', key).where('seq', '=', seq).executeTakeFirst();
        if (!row) {
          if (seq === 0) throw new BlobNotFoundError(expected.uri, 'no rows in checkpoint_blobs');
          return;
        }
        yield row.data;
      }
    }
    yield* verified(rows(), expected);
  }

  async delete(uri: string): Promise<void> {
    await this.db.deleteFrom('checkpoint_blobs').where('blob_key', '=', this.keyOf(uri)).execute();
  }

  async *list(opts: { olderThanMs: number }): AsyncGenerator<ListedBlob> {
    // The database's clock on both sides of the comparison: no skew between hosts.
    const rows = await this.db
      .selectFrom('checkpoint_blobs')
      .select(['blob_key', sql<number>`sum(octet_length(data))::bigint`.as('bytes'), sql<Date>`max(created_at)`.as('modified_at')])
      .groupBy('blob_key')
      .having(sql<boolean>`max(created_at) < clock_timestamp() - make_interval(secs => ${opts.olderThanMs / 1000})`)
      .execute();
    for (const r of rows) yield { uri: `postgres:${r.blob_key}`, bytes: Number(r.bytes), modifiedAt: new Date(r.modified_at) };
  }

  async close(): Promise<void> {}
}
