// Checkpoint stores against real servers: a directory (file://), moto in server mode (s3://) and
// PostgreSQL (postgres). Round trips, corruption, garbage collection, the postgres size limit,
// the migration of inline checkpoints, and a ≥ 300 MiB blob streamed in bounded memory.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Kysely, Migrator, sql } from 'kysely';
import { fileURLToPath } from 'node:url';
import { connect, migrateToLatest, type Db } from '../../db/connect';
import { migrations } from '../../db/migrations';
import {
  BlobNotFoundError,
  ChecksumMismatchError,
  CheckpointTooLargeError,
  FileStore,
  gcStore,
  openStore,
  openStoreForBlob,
  PostgresStore,
  S3Store,
  StoreConfigError,
  type CheckpointStore,
  type StoredBlob,
} from '../../stores';
import { createTestDatabase } from '../harness';
import { startMoto, type MotoServer } from '../moto';
import { patternChunks } from '../storesStreamChild';

const run = promisify(execFile);

async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.byteLength; i++) {
    const n = sizes[i % sizes.length];
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function seedRun(db: Db, runId: string): Promise<void> {
  await db
    .insertInto('sweeps')
    .values({ id: `sw-${runId}`, name: 'stores', spec: JSON.stringify({}), status: 'running', task_queue: 'q', total_runs: 1, workflow_id: 'wf' } as never)
    .execute();
  await db
    .insertInto('runs')
    .values({ id: runId, sweep_id: `sw-${runId}`, run_index: 0, run_key: runId, label: runId, config: JSON.stringify({}), status: 'running', steps_total: 10 } as never)
    .execute();
}

async function point(db: Db, runId: string, blob: StoredBlob): Promise<void> {
  await db
    .insertInto('checkpoints')
    .values({ run_id: runId, step: 5, uri: blob.uri, sha256: blob.sha256, bytes: blob.bytes, format_version: 1, backend: 'cpu' })
    .onConflict((oc) => oc.column('run_id').doUpdateSet({ uri: blob.uri, sha256: blob.sha256, bytes: blob.bytes }))
    .execute();
}

describe('checkpoint stores (real directory, moto, PostgreSQL)', { timeout: 600_000 }, () => {
  let db: Db;
  let dropDb: () => Promise<void>;
  let moto: MotoServer;
  let dir: string;
  const savedEnv = { ...process.env };
  const stores: Record<string, () => CheckpointStore> = {};

  before(async () => {
    const created = await createTestDatabase();
    dropDb = created.drop;
    db = connect(created.url, { max: 4 });
    await migrateToLatest(db);
    moto = await startMoto();
    Object.assign(process.env, moto.env);
    dir = mkdtempSync(path.join(os.tmpdir(), 'sparsity-stores-'));
    stores.file = () => openStore(`file://${dir}/ckpt`);
    stores.s3 = () => openStore(`s3://${moto.bucket}/team/ckpts`);
    stores.postgres = () => openStore('postgres', { db });
  });

  after(async () => {
    process.env = savedEnv;
    await db?.destroy().catch(() => undefined);
    await dropDb?.().catch(() => undefined);
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['file', 's3', 'postgres']) {
    it(`${kind}: put, get, list, delete round trip`, async () => {
      const store = stores[kind]();
      try {
        const bytes = randomBytes(3 * 1024 * 1024 + 17);
        const blob = await store.put(chunked(bytes, [1, 100_000, 1 << 20, 7]), { runId: `rt-${kind}` });
        assert.equal(blob.sha256, sha(bytes));
        assert.equal(blob.bytes, bytes.byteLength);
        assert.ok(store.owns(blob.uri), blob.uri);
        assert.ok(blob.uri.includes(`rt-${kind}/`), blob.uri);
        if (kind !== 's3') assert.ok(blob.uri.includes(blob.sha256), `content-addressed name: ${blob.uri}`);
        assert.ok((await readAll(store.get(blob))).equals(bytes));
        // Read back through a store opened from the blob's URI alone, as a resuming worker does.
        const other = openStoreForBlob(blob.uri, { db });
        assert.equal(other.uri, store.uri);
        assert.ok((await readAll(other.get(blob))).equals(bytes));
        await other.close();
        // A second put of the same bytes is a second immutable blob.
        const again = await store.put(chunked(bytes, [bytes.byteLength]), { runId: `rt-${kind}` });
        assert.notEqual(again.uri, blob.uri);
        assert.equal(again.sha256, blob.sha256);

        const young: string[] = [];
        for await (const b of store.list({ olderThanMs: 3_600_000 })) young.push(b.uri);
        assert.ok(!young.includes(blob.uri), 'a blob younger than the grace period is not listed');
        await new Promise((r) => setTimeout(r, 1100)); // S3 LastModified has 1 s resolution
        const listed = new Map<string, number>();
        for await (const b of store.list({ olderThanMs: 0 })) listed.set(b.uri, b.bytes);
        assert.equal(listed.get(blob.uri), bytes.byteLength);
        assert.equal(listed.get(again.uri), bytes.byteLength);

        await store.delete(blob.uri);
        await store.delete(blob.uri); // idempotent
        await assert.rejects(readAll(store.get(blob)), (err: Error) => err instanceof BlobNotFoundError && err.message.includes(blob.uri));
        assert.ok((await readAll(store.get(again))).equals(bytes), 'deleting one blob leaves the other');
        await store.delete(again.uri);
      } finally {
        await store.close();
      }
    });

    it(`${kind}: a corrupted blob fails with ChecksumMismatchError naming the URI`, async () => {
      const store = stores[kind]();
      try {
        const bytes = randomBytes(2 * 1024 * 1024);
        const blob = await store.put(chunked(bytes, [65536]), { runId: `bad-${kind}` });
        const flipped = Buffer.from(bytes);
        flipped[1_000_000] ^= 0x01;
        if (store instanceof S3Store) {
          await store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: blob.uri.slice(`s3://${store.bucket}/`.length), Body: flipped }));
        } else if (store instanceof PostgresStore) {
          await sql`update checkpoint_blobs set data = set_byte(data, 1000000, get_byte(data, 1000000) # 1) where blob_key = ${blob.uri.slice('postgres:'.length)} and seq = 0`.execute(db);
        } else {
          writeFileSync(fileURLToPath(blob.uri), flipped);
        }
        await assert.rejects(readAll(store.get(blob)), (err: Error) => {
          assert.ok(err instanceof ChecksumMismatchError, String(err));
          assert.match(err.message, new RegExp(`checkpoint blob ${blob.uri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt`));
          assert.match(err.message, new RegExp(`expected ${bytes.byteLength} bytes with sha256 ${blob.sha256}`));
          return true;
        });
        // A truncated blob too.
        await assert.rejects(readAll(store.get({ ...blob, bytes: blob.bytes + 1 })), ChecksumMismatchError);
        await store.delete(blob.uri);
      } finally {
        await store.close();
      }
    });

    it(`${kind}: gc deletes old blobs no checkpoint row points to, keeps live and young ones`, async () => {
      const store = stores[kind]();
      try {
        const runId = `gc-${kind}`;
        await seedRun(db, runId);
        const live = await store.put(chunked(randomBytes(1000), [1000]), { runId });
        const orphan = await store.put(chunked(randomBytes(2000), [2000]), { runId });
        await point(db, runId, live);
        await new Promise((r) => setTimeout(r, 1100));
        const young = await store.put(chunked(randomBytes(3000), [3000]), { runId });
        // Grace 1 s: live and orphan are older, young is not.
        const r = await gcStore(db, store, { graceMs: 1000 });
        assert.equal(r.deleted, 1, JSON.stringify(r));
        assert.equal(r.freedBytes, 2000);
        assert.ok(r.live >= 1);
        await assert.rejects(readAll(store.get(orphan)), BlobNotFoundError);
        assert.equal((await readAll(store.get(live))).byteLength, 1000);
        assert.equal((await readAll(store.get(young))).byteLength, 3000);
        // Once the run's row is gone (a completed run), its blob is collected too.
        await db.deleteFrom('checkpoints').where('run_id', '=', runId).execute();
        await new Promise((r) => setTimeout(r, 1100));
        const r2 = await gcStore(db, store, { graceMs: 1000 });
        assert.equal(r2.deleted, 2, JSON.stringify(r2));
        await assert.rejects(readAll(store.get(live)), BlobNotFoundError);
      } finally {
        await store.close();
      }
    });
  }

  it('file: a blob of 64 MiB or more, hashed on a worker thread, still fails a flipped bit and a short length, and may be abandoned after one chunk', async () => {
    const store = new FileStore(`file://${dir}`);
    try {
      const bytes = randomBytes(80 * 1024 * 1024);
      const blob = await store.put(chunked(bytes, [4 << 20]), { runId: 'big-digest' });
      assert.deepEqual(await readAll(store.get(blob)), bytes);
      const flipped = Buffer.from(bytes);
      flipped[70_000_000] ^= 0x10;
      writeFileSync(fileURLToPath(blob.uri), flipped);
      // Every chunk is yielded; the verdict comes after the last one, as for an inline digest.
      let yielded = 0;
      await assert.rejects(
        (async () => {
          for await (const c of store.get(blob)) yielded += c.byteLength;
        })(),
        (err: Error) => err instanceof ChecksumMismatchError && err.message.includes(`expected ${bytes.byteLength} bytes with sha256 ${blob.sha256}`) && err.message.includes(`read ${bytes.byteLength} bytes with sha256 ${sha(flipped)}`),
      );
      assert.equal(yielded, bytes.byteLength);
      await assert.rejects(readAll(store.get({ ...blob, bytes: blob.bytes + 1 })), ChecksumMismatchError);
      // A decoder that gives up after the first chunk (a bad header): the generator's return stops the
      // hashing thread; nothing rejects later unhandled (the test runner would fail the file).
      for await (const c of store.get(blob)) {
        assert.ok(c.byteLength > 0);
        break;
      }
      await store.delete(blob.uri);
    } finally {
      await store.close();
    }
  });

  it('file: a failed put leaves neither a blob nor its temporary file', async () => {
    const store = openStore(`file://${dir}/failing`);
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield randomBytes(1000);
      throw new Error('encoder died');
    }
    await assert.rejects(store.put(broken(), { runId: 'r1' }), /encoder died/);
    const left: string[] = [];
    for await (const b of store.list({ olderThanMs: 0 })) left.push(b.uri);
    assert.deepEqual(left, [], 'the temporary file is removed when the put fails in-process');
  });

  it('s3: a failed put leaves no object', async () => {
    const store = stores.s3();
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield randomBytes(6 << 20);
      yield randomBytes(20 << 20);
      throw new Error('encoder died');
    }
    try {
      await assert.rejects(store.put(broken(), { runId: 'broken-s3' }), /encoder died/);
      for await (const b of store.list({ olderThanMs: -60_000 })) assert.ok(!b.uri.includes('broken-s3'), b.uri);
    } finally {
      await store.close();
    }
  });

  it('postgres: above the size limit put refuses with one line naming file:// and s3://, writing nothing', async () => {
    const store = new PostgresStore(db, { maxBytes: 1 << 20, chunkBytes: 256 * 1024 });
    const before = await db.selectFrom('checkpoint_blobs').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
    const big = randomBytes((1 << 20) + 1);
    for (const expectedBytes of [undefined, big.byteLength]) {
      await assert.rejects(store.put(chunked(big, [300_000]), { runId: 'huge', expectedBytes }), (err: Error) => {
        assert.ok(err instanceof CheckpointTooLargeError, String(err));
        assert.ok(!err.message.includes('\n'), 'one line');
        assert.match(err.message, /run huge/);
        assert.match(err.message, /postgres store's limit of 1\.00 MiB/);
        assert.match(err.message, /file:\/\/\/shared\/path or s3:\/\/bucket\/prefix/);
        return true;
      });
    }
    const afterCount = await db.selectFrom('checkpoint_blobs').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
    assert.equal(afterCount.n, before.n, 'a refused put leaves no rows');
    // Exactly at the limit is accepted, in chunks of at most chunkBytes.
    const fits = randomBytes(1 << 20);
    const blob = await store.put(chunked(fits, [333_333]), { runId: 'fits' });
    const rows = await db.selectFrom('checkpoint_blobs').select(['seq', sql<number>`octet_length(data)`.as('len')]).where('blob_key', '=', blob.uri.slice('postgres:'.length)).orderBy('seq').execute();
    assert.deepEqual(rows.map((r) => r.len), [262144, 262144, 262144, 262144]);
    assert.ok((await readAll(store.get(blob))).equals(fits));
  });

  it('openStore refuses bad URIs with messages naming the problem', async () => {
    const cases: [string, RegExp][] = [
      ['ftp://host/x', /unknown scheme "ftp:"/],
      ['/shared/ckpt', /has no scheme/],
      ['s3://', /missing bucket/],
      ['s3:///prefix', /missing bucket/],
      ['s3://Bad_Bucket/x', /not a valid S3 bucket name/],
      ['s3://user:pw@bucket/x', /credentials and ports do not belong/],
      ['file://otherhost/shared', /absolute path on this host/],
      ['file:relative/dir', /absolute path on this host/],
      ['postgres://db.example/sparsity', /write `postgres`, not a connection URL/],
      ['postgres', /needs the database connection/],
    ];
    for (const [uri, re] of cases) {
      assert.throws(() => openStore(uri), (err: Error) => err instanceof StoreConfigError && re.test(err.message), uri);
    }
    await assert.rejects(openStore(`file://${dir}`).put(chunked(Buffer.alloc(1), [1]), { runId: '../escape' }), /run id "\.\.\/escape" cannot name a checkpoint blob/);
  });

  it('migration 0002 moves inline checkpoints into checkpoint_blobs without losing a byte', async () => {
    const created = await createTestDatabase();
    const old = connect(created.url, { max: 2 });
    try {
      const migrator = new Migrator({ db: old as unknown as Kysely<unknown>, provider: { getMigrations: async () => migrations } });
      const first = await migrator.migrateTo('2026_11_28_0001_initial');
      assert.equal(first.error, undefined);
      await seedRun(old, 'legacy');
      // 20 MiB + 3 bytes: three chunks after the migration.
      const data = randomBytes(20 * 1024 * 1024 + 3);
      await sql`insert into checkpoints (run_id, step, data, bytes, backend) values ('legacy', 40, ${data}, ${data.byteLength}, 'wasm')`.execute(old);
      await migrateToLatest(old);
      const row = await old.selectFrom('checkpoints').selectAll().where('run_id', '=', 'legacy').executeTakeFirstOrThrow();
      assert.equal(row.step, 40);
      assert.equal(row.bytes, data.byteLength);
      assert.equal(row.sha256, sha(data));
      assert.equal(row.format_version, 1);
      assert.equal(row.backend, 'wasm');
      const store = openStoreForBlob(row.uri, { db: old });
      assert.ok((await readAll(store.get(row))).equals(data));
      const n = await old.selectFrom('checkpoint_blobs').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
      assert.equal(n.n, 3);
      // And back down: the inline value returns.
      const down = await migrator.migrateTo('2026_11_28_0001_initial');
      assert.equal(down.error, undefined);
      const back = await sql<{ data: Buffer }>`select data from checkpoints where run_id = 'legacy'`.execute(old);
      assert.ok(back.rows[0].data.equals(data));
    } finally {
      await old.destroy();
      await created.drop();
    }
  });

  for (const kind of ['file', 's3']) {
    it(`${kind}: a 320 MiB blob streams through in bounded memory`, async () => {
      const total = 320 * 1024 * 1024;
      const seed = 12345;
      const expected = createHash('sha256');
      for await (const c of patternChunks(total, seed)) expected.update(c);
      const uri = kind === 'file' ? `file://${dir}/big` : `s3://${moto.bucket}/big`;
      const child = path.join(__dirname, '..', 'storesStreamChild.js');
      const { stdout } = await run(process.execPath, [child, uri, String(total), String(seed)], { env: { ...process.env, ...moto.env }, maxBuffer: 1 << 20 });
      const r = JSON.parse(stdout) as { blob: StoredBlob; readSha256: string; readBytes: number; putSeconds: number; getSeconds: number; baselineRssBytes: number; maxRssBytes: number };
      assert.equal(r.blob.sha256, expected.digest('hex'));
      assert.equal(r.blob.bytes, total);
      assert.equal(r.readSha256, r.blob.sha256);
      assert.equal(r.readBytes, total);
      const mib = (b: number) => (b / 2 ** 20).toFixed(0);
      const growth = r.maxRssBytes - r.baselineRssBytes;
      process.stderr.write(
        `stores ${kind}: 320 MiB put ${r.putSeconds}s get ${r.getSeconds}s, peak RSS ${mib(r.maxRssBytes)} MiB ` +
          `(${(r.maxRssBytes / total).toFixed(2)}× the blob), ${mib(growth)} MiB above the ${mib(r.baselineRssBytes)} MiB before the put\n`,
      );
      // Bounded buffers (file: 4 MiB reads; s3: 5 parts of 16 MiB), whatever the blob's size.
      assert.ok(r.maxRssBytes < 0.75 * total, `peak RSS ${mib(r.maxRssBytes)} MiB for a 320 MiB blob`);
      assert.ok(growth < 0.5 * total, `RSS grew by ${mib(growth)} MiB streaming a 320 MiB blob`);
      const store = openStore(uri);
      await store.delete(r.blob.uri);
      await store.close();
    });
  }
});
