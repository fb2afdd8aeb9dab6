// Checkpoint stores: a `checkpoints` row becomes a pointer (uri, sha256, bytes, format_version)
// to a blob in a store; the postgres store keeps blobs in `checkpoint_blobs`, in chunks of at
// most 16 MiB. Every checkpoint stored inline before this migration moves into checkpoint_blobs
// (in SQL, chunk by chunk) and its row points there, so nothing stored is lost.
import { type Kysely, sql } from 'kysely';

const CHUNK = 8 * 1024 * 1024;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table checkpoint_blobs (
      blob_key text not null,
      seq integer not null,
      data bytea not null,
      created_at timestamptz not null default clock_timestamp(),
      primary key (blob_key, seq)
    )`.execute(db);
  // Checkpoints are float data: compressing them costs time and saves nothing.
  await sql`alter table checkpoint_blobs alter column data set storage external`.execute(db);

  await sql`alter table checkpoints add column uri text`.execute(db);
  await sql`alter table checkpoints add column sha256 text`.execute(db);
  await sql`alter table checkpoints add column format_version integer not null default 1`.execute(db);
  await sql`alter table checkpoints alter column bytes type bigint`.execute(db);

  // Existing inline checkpoints: same key layout as the postgres store (runId/sha256.nonce.ckpt).
  await sql`update checkpoints set sha256 = encode(sha256(data), 'hex')`.execute(db);
  await sql`update checkpoints set uri = 'postgres:' || run_id || '/' || sha256 || '.migrated.ckpt'`.execute(db);
  await sql`
    insert into checkpoint_blobs (blob_key, seq, data, created_at)
    select substr(c.uri, length('postgres:') + 1), s.seq, substring(c.data from s.seq * ${sql.lit(CHUNK)} + 1 for ${sql.lit(CHUNK)}), c.created_at
    from checkpoints c
    cross join lateral generate_series(0, greatest(0, (octet_length(c.data) - 1) / ${sql.lit(CHUNK)})) as s(seq)`.execute(db);

  await sql`alter table checkpoints alter column uri set not null`.execute(db);
  await sql`alter table checkpoints alter column sha256 set not null`.execute(db);
  await sql`alter table checkpoints alter column format_version drop default`.execute(db);
  await sql`alter table checkpoints drop column data`.execute(db);
}

/**
 * Back to inline checkpoints: blobs of the postgres store return into their rows; rows that
 * point to file:// or s3:// stores cannot be inlined and are dropped (those runs restart).
 */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table checkpoints add column data bytea`.execute(db);
  await sql`
    update checkpoints c set data = b.data
    from (select blob_key, string_agg(data, ''::bytea order by seq) as data from checkpoint_blobs group by blob_key) b
    where c.uri like 'postgres:%' and b.blob_key = substr(c.uri, length('postgres:') + 1)`.execute(db);
  await sql`delete from checkpoints where data is null`.execute(db);
  await sql`alter table checkpoints alter column data set not null`.execute(db);
  await sql`alter table checkpoints alter column bytes type integer`.execute(db);
  await sql`alter table checkpoints drop column uri, drop column sha256, drop column format_version`.execute(db);
  await sql`drop table checkpoint_blobs`.execute(db);
}
