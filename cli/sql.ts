// `sparsity sql`: the one place user-written SQL runs, in a read-only transaction with a
// statement timeout, against the database in use (starting the embedded one if needed).
import pg from 'pg';
import { startEmbeddedPostgres } from '../stack/embedded';
import { envEndpoints, readEmbeddedEndpoints } from '../stack/endpoints';
import { sparsityHome } from '../stack/paths';
import { UsageError } from '../domain/errors';
import { connect, migrateToLatest } from '../db/connect';

export type Row = Record<string, unknown>;

export async function queryReadOnly(databaseUrl: string, query: string, timeoutSeconds: number): Promise<Row[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('begin transaction read only');
    await client.query(`set local statement_timeout = ${Math.max(1, Math.round(timeoutSeconds * 1000))}`);
    try {
      // The extended protocol takes exactly one statement: `commit; delete ...` cannot escape
      // the read-only transaction.
      const result = await client.query({ text: query, queryMode: 'extended' } as pg.QueryConfig);
      return (result.rows ?? []) as Row[];
    } catch (e) {
      const pgErr = e as { message: string; position?: string };
      const where = pgErr.position ? ` at character ${pgErr.position}` : '';
      throw new UsageError(`SQL error${where}: ${pgErr.message}`);
    } finally {
      await client.query('rollback').catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

/**
 * Runs `fn` with the database in use: DATABASE_URL, else a running `sparsity dev`'s, else the
 * embedded PostgreSQL started just for this command (and stopped after).
 */
export async function withDatabaseUrl<T>(log: (m: string) => void, fn: (url: string) => Promise<T>): Promise<T> {
  const url = envEndpoints().databaseUrl ?? readEmbeddedEndpoints()?.databaseUrl;
  if (url) return fn(url);
  log('no running database: starting the embedded PostgreSQL for this command ...');
  const server = await startEmbeddedPostgres({ home: sparsityHome() });
  try {
    const db = connect(server.databaseUrl, { max: 1 });
    await migrateToLatest(db).finally(() => db.destroy());
    return await fn(server.databaseUrl);
  } finally {
    await server.stop();
  }
}

export async function runReadOnlySql(query: string, timeoutSeconds: number, log: (m: string) => void): Promise<Row[]> {
  return withDatabaseUrl(log, (url) => queryReadOnly(url, query, timeoutSeconds));
}
