// Real services for integration tests: a Temporal dev server of the test's own (fresh
// SQLite file, free port) and a fresh database on a real PostgreSQL. No mocks.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { ensureDatabase, freePort, startEmbeddedPostgres, startTemporalDevServer, type TemporalDevServer } from '../stack/embedded';
import { connect, migrateToLatest, type Db } from '../db/connect';
import { connectClient, type Endpoints } from '../workers/connections';
import pg from 'pg';

/** The server tests create their databases on: TEST_DATABASE_URL, else the machine's PostgreSQL. */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const CLI = path.join(__dirname, '..', 'cli', 'main.js');

export interface TestStack {
  home: string;
  endpoints: Endpoints;
  db: Db;
  client: Client;
  temporal: TemporalDevServer;
  restartTemporal(): Promise<void>;
  stop(): Promise<void>;
}

let fallbackAdmin: Promise<string> | undefined;
/** The machine's PostgreSQL when it answers, else one embedded server for this test process. */
async function adminUrl(): Promise<string> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return ADMIN_URL;
  } catch {
    fallbackAdmin ??= (async () => {
      const home = mkdtempSync(path.join(os.tmpdir(), 'sparsity-pg-'));
      chmodSync(home, 0o755);
      const server = await startEmbeddedPostgres({ home, port: await freePort(56000) });
      process.once('exit', () => rmSync(home, { recursive: true, force: true }));
      return server.databaseUrl.replace(/\/sparsity$/, '/postgres');
    })();
    return fallbackAdmin;
  }
}

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = await adminUrl();
  const name = `sparsity_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await ensureDatabase(admin, name);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function startTestStack(opts: { embeddedPostgres?: boolean } = {}): Promise<TestStack & { pg?: { stop(): Promise<void>; start(): Promise<void> } }> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sparsity-test-'));
  // As root, the embedded PostgreSQL runs as the `postgres` user, which must reach its data dir.
  chmodSync(home, 0o755);
  let databaseUrl: string;
  let dropDb: () => Promise<void> = async () => undefined;
  let pgCtl: { stop(): Promise<void>; start(): Promise<void> } | undefined;
  if (opts.embeddedPostgres) {
    const port = await freePort(55000 + Math.floor(Math.random() * 2000));
    let server = await startEmbeddedPostgres({ home, port });
    databaseUrl = server.databaseUrl;
    pgCtl = {
      stop: () => server.stop(),
      start: async () => {
        server = await startEmbeddedPostgres({ home, port });
      },
    };
    dropDb = () => server.stop();
  } else {
    const created = await createTestDatabase();
    databaseUrl = created.url;
    dropDb = created.drop;
  }
  const port = await freePort(17233 + Math.floor(Math.random() * 2000));
  let temporal = await startTemporalDevServer({ home, port, uiPort: await freePort(port + 1) });
  const endpoints: Endpoints = { temporalAddress: temporal.address, databaseUrl, namespace: 'default' };
  const db = connect(databaseUrl, { max: 4 });
  await migrateToLatest(db);
  const client = await connectClient(endpoints);
  const stack = {
    home,
    endpoints,
    db,
    client,
    temporal,
    pg: pgCtl,
    async restartTemporal() {
      temporal.process.kill('SIGKILL');
      await new Promise((r) => temporal.process.once('exit', r));
      temporal = await startTemporalDevServer({ home, port, uiPort: await freePort(port + 1) });
      stack.temporal = temporal;
    },
    async stop() {
      await client.connection.close().catch(() => undefined);
      await db.destroy().catch(() => undefined);
      await temporal.stop().catch(() => undefined);
      await dropDb().catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Runs the CLI as a user would; resolves with its exit code and output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `sparsity worker` process in its own process group, so a test can kill -9 all of it. */
export function spawnWorker(endpoints: Endpoints, args: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker', ...args], {
    env: {
      ...process.env,
      ...env,
      TEMPORAL_ADDRESS: endpoints.temporalAddress,
      DATABASE_URL: endpoints.databaseUrl,
      TEMPORAL_NAMESPACE: endpoints.namespace,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
