// `sparsity sql`: the one place user-written SQL runs, in a read-only transaction with a
// statement timeout, against the database in use (starting the embedded one if needed).
import pg from 'pg';
import { startEmbeddedPostgres } from '../stack/embedded';
import { envEndpoints, readEmbeddedEndpoints } from '../stack/endpoints';
import { sparsityHome } from '../stack/paths';
import { UsageError } from '../domain/errors';
import { connect, migrateToLatest } from '../db/connect';

export type Row = Record<string, unknown>;

/** The role user SQL runs as: it may read every table (pg_read_all_data) and nothing else. */
export const READER_ROLE = 'sparsity_reader';

/**
 * A read-only transaction does not stop a superuser's `COPY ... TO PROGRAM` or `pg_read_file`, and
 * the embedded database's user is a superuser: user SQL runs as READER_ROLE, created here when the
 * connected user may create roles. A superuser that cannot switch to it is refused rather than trusted.
 */
async function ensureReaderRole(client: pg.Client): Promise<void> {
  await client
    .query(
      `do $$ begin
         if not exists (select from pg_roles where rolname = '${READER_ROLE}') then
           create role ${READER_ROLE} nologin;
         end if;
         grant pg_read_all_data to ${READER_ROLE};
         execute format('grant ${READER_ROLE} to %I', current_user);
       exception when insufficient_privilege then null;
       end $$`,
    )
    .catch(() => undefined);
}

/** Inside the read-only transaction: become READER_ROLE, or refuse a superuser that cannot. */
async function dropPrivileges(client: pg.Client): Promise<void> {
  const r = await client.query<{ superuser: boolean; reader: boolean }>(
    `select (select rolsuper from pg_roles where rolname = current_user) as superuser,
            exists (select from pg_roles where rolname = '${READER_ROLE}') and pg_has_role(current_user, '${READER_ROLE}', 'member') as reader`,
  );
  const { superuser, reader } = r.rows[0];
  if (reader) await client.query(`set local role ${READER_ROLE}`);
  else if (superuser) {
    throw new UsageError(`sql: the database user is a superuser and the read-only role ${READER_ROLE} is not available to it; refusing to run user SQL with superuser rights`);
  }
}

export async function queryReadOnly(databaseUrl: string, query: string, timeoutSeconds: number): Promise<Row[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await ensureReaderRole(client);
    await client.query('begin transaction read only');
    await dropPrivileges(client);
    await client.query(`set local statement_timeout = ${Math.max(1, Math.round(timeoutSeconds * 1000))}`);
    try {
      // The extended protocol takes exactly one statement: `commit; delete ...` cannot escape
      // the read-only transaction.
      const result = await client.query({ text: query, queryMode: 'extended' } as pg.QueryConfig);
      return (result.rows ?? []) as Row[];
    } catch (e) {
      const pgErr = e as { message: string; position?: string; code?: string };
      // PostgreSQL's words for it ("cannot insert multiple commands into a prepared statement") name its protocol, not the user's input.
      if (pgErr.code === '42601' && /multiple commands/.test(pgErr.message)) throw new UsageError('SQL error: one statement per call (this query has several, separated by ";"): run them one at a time');
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
