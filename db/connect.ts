// Opening the database and bringing its schema up to date.
import { Kysely, Migrator, PostgresDialect, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';
import { migrations } from './migrations';

// bigint (int8) columns hold parameter and token counts, far below 2^53: read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export type Db = Kysely<Database>;

export interface ConnectOptions {
  /** Pool size; each training slot needs one, the CLI one or two. */
  max?: number;
  /** Statement timeout in milliseconds; 0 = none. */
  statementTimeoutMs?: number;
}

export function createPool(databaseUrl: string, opts: ConnectOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 4,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
  });
  // A server restart kills idle connections; without a listener that error would crash the process.
  pool.on('error', () => undefined);
  return pool;
}

export function connect(databaseUrl: string, opts: ConnectOptions = {}): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(databaseUrl, opts) }) });
}

export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db: db as unknown as Kysely<unknown>, provider: { getMigrations: async () => migrations } });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error instanceof Error ? result.error : new Error(String(result.error));
  return result;
}
