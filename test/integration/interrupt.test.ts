// Ctrl-C as a terminal sends it: SIGINT to the command's whole foreground process group (the
// CLI, its training slots and anything else left in the group), on the embedded defaults.
// - `demo`: the first Ctrl-C cancels the sweep as `sparsity cancel` does, stops the slots, Temporal
//   and PostgreSQL, and exits 130 with one line; the stored sweep says cancelled; nothing is left.
// - a second Ctrl-C exits at once: the embedded services and the slots still go.
// - `dev`: Ctrl-C stops the workers, Temporal and PostgreSQL and exits 0.
// - `kill -9` (no clean stop possible): the next command on the state directory stops the Temporal and
//   PostgreSQL left running, keeps their data, and starts its own.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { isAlive } from '../../stack/processes';
import { CLI, runCli, until } from '../harness';

interface Started {
  child: ChildProcess;
  home: string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
  interruptedAt?: number;
}

const homes: string[] = [];
const movedData: string[] = [];
const started: Started[] = [];

/** The CLI in a process group of its own (as a terminal's foreground job), on embedded services under `home` (new by default). */
function start(args: string[], home = mkdtempSync(path.join(os.tmpdir(), 'sparsity-intr-'))): Started {
  homes.push(home);
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, SPARSITY_HOME: home, DATABASE_URL: '', TEMPORAL_ADDRESS: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const s: Started = {
    child,
    home,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, afterMs: Date.now() - (s.interruptedAt ?? Date.now()) }))),
  };
  started.push(s);
  return s;
}

function ctrlC(s: Started): void {
  s.interruptedAt ??= Date.now();
  process.kill(-(s.child.pid as number), 'SIGINT');
}

/** Processes still running for this state directory: its process group, Temporal (its SQLite file) and PostgreSQL (its data directory). */
function leftovers(s: Started): string[] {
  const pointer = path.join(s.home, 'postgres.location');
  const dataDir = existsSync(pointer) ? readFileSync(pointer, 'utf8').trim() : path.join(s.home, 'postgres');
  if (dataDir !== path.join(s.home, 'postgres')) movedData.push(dataDir);
  const ps = spawnSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' }).stdout.split('\n');
  const left = ps.filter((l) => {
    const [pid, pgid] = l.trim().split(/\s+/);
    if (!pid || Number(pid) === process.pid) return false;
    return Number(pgid) === s.child.pid || l.includes(s.home) || l.includes(dataDir);
  });
  if (existsSync(path.join(dataDir, 'postmaster.pid'))) left.push(`${dataDir}/postmaster.pid`);
  return left;
}

/** The command's exit, or a failure carrying what it printed if it has not exited within `ms`. */
async function exitWithin(s: Started, ms: number, what: string): Promise<{ code: number | null; afterMs: number }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      s.exited,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no exit ${ms / 1000} s after ${what}:\n${s.stderr()}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function nothingLeft(s: Started): Promise<void> {
  // PostgreSQL's fast shutdown may finish just after the command exits.
  await until('no process left for the state directory', async () => leftovers(s).length === 0, 20_000, 250).catch(() => {
    assert.deepEqual(leftovers(s), [], 'processes left behind');
  });
}

describe('Ctrl-C on the embedded stack', { timeout: 600_000 }, () => {
  after(() => {
    // A failed case may leave its command and services running: kill what is left of each.
    for (const s of started) {
      for (const l of leftovers(s)) {
        const pid = Number(l.trim().split(/\s+/)[0]);
        if (Number.isInteger(pid) && pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
    }
    for (const h of homes) rmSync(h, { recursive: true, force: true });
    for (const d of movedData) rmSync(d, { recursive: true, force: true });
  });

  it('demo: one Ctrl-C cancels the sweep, stops everything it started, exits 130; the stored sweep says cancelled', async () => {
    const demo = start(['demo']);
    await until('runs training', async () => /\d+\/8 done, [1-9]\d* running/.test(demo.stderr()), 240_000, 200);
    ctrlC(demo);
    const exit = await exitWithin(demo, 90_000, 'Ctrl-C');
    const err = demo.stderr();
    assert.equal(exit.code, 130, err);
    const sweepId = /cancelling sweep (\S+) \.\.\./.exec(err)?.[1];
    assert.ok(sweepId, err);
    assert.match(err, new RegExp(`interrupted \\(SIGINT\\): sweep ${sweepId} cancelled: \\d+ of 8 runs completed`));
    assert.match(err, /stopping workers, Temporal and PostgreSQL/);
    assert.doesNotMatch(err, /\n\s+at |ECONNREFUSED|Channel has been shut down|restarting it/, 'a clean stop: no stack trace, no slot retrying against stopped services');
    await nothingLeft(demo);
    process.stderr.write(`demo: exit 130 ${exit.afterMs} ms after Ctrl-C\n`);

    // The state it kept: the sweep cancelled, no run left running.
    const st = await runCli(['status', sweepId, '--json'], { SPARSITY_HOME: demo.home, DATABASE_URL: '', TEMPORAL_ADDRESS: '' }, 120_000);
    assert.equal(st.code, 0, st.stderr);
    const report = JSON.parse(st.stdout) as { status: string; runs: { total: number; running: number; pending: number; cancelled: number; completed: number } };
    assert.equal(report.status, 'cancelled');
    assert.equal(report.runs.total, 8);
    assert.equal(report.runs.running + report.runs.pending, 0);
    assert.equal(report.runs.cancelled + report.runs.completed, 8);
    // Their segments are settled too: cancelled by the slot, or abandoned if it could not say.
    const seg = await runCli(['sql', `select status, count(*)::int as n from run_segments where run_id like '${sweepId}.%' group by status order by status`, '--json'], { SPARSITY_HOME: demo.home, DATABASE_URL: '', TEMPORAL_ADDRESS: '' }, 120_000);
    assert.equal(seg.code, 0, seg.stderr);
    const statuses = (JSON.parse(seg.stdout) as { status: string; n: number }[]).map((r) => r.status);
    assert.ok(statuses.length > 0 && !statuses.includes('running'), seg.stdout);
  });

  it('demo: a second Ctrl-C exits at once, and the embedded services and slots still go', async () => {
    const demo = start(['demo']);
    await until('runs training', async () => /\d+\/8 done, [1-9]\d* running/.test(demo.stderr()), 240_000, 200);
    ctrlC(demo);
    await until('the clean stop under way', async () => /cancelling sweep/.test(demo.stderr()), 10_000, 10);
    ctrlC(demo);
    const exit = await exitWithin(demo, 15_000, 'Ctrl-C twice');
    assert.equal(exit.code, 130, demo.stderr());
    assert.match(demo.stderr(), /SIGINT again: exiting at once/);
    assert.doesNotMatch(demo.stderr(), /\n\s+at /, 'no stack trace');
    await nothingLeft(demo);
  });

  it('worker: Ctrl-C to its process group drains each slot to its next eval point (the terminal reaches the slots too)', async () => {
    const dev = start(['dev', '--workers', '0']);
    await until('the stack ready', async () => /Ready\./.test(dev.stderr()), 240_000, 200);
    const env = { SPARSITY_HOME: dev.home, DATABASE_URL: '', TEMPORAL_ADDRESS: '' };
    const worker = spawn(process.execPath, [CLI, 'worker', '--slots', '1'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let werr = '';
    worker.stderr?.on('data', (d: Buffer) => (werr += d.toString()));
    const workerExit = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    try {
      // One segment for the whole run (it cannot end on its own before the signal), far longer than the
      // test; an eval point every 200 steps: mid-interval when the signal comes.
      const sweep = path.join(dev.home, 'long.yaml');
      writeFileSync(sweep, 'name: drain\nheartbeatTimeout: 30\nsegmentSteps: 200000\ntraining: {steps: 200000, batchSize: 64, evalEvery: 200}\nmeasure: {metrics: [exact], primary: exact}\ngrid: {activation: [relu], size: [{dModel: 64, nLayers: 2}]}\nmodel: {family: mlp, inputDim: 16, outputDim: 8}\n');
      const sub = await runCli(['submit', sweep, '--json'], env, 120_000);
      assert.equal(sub.code, 0, sub.stderr);
      const sweepId = (JSON.parse(sub.stdout) as { sweepId: string }).sweepId;
      const points = async () => {
        const r = await runCli(['sql', `select count(*)::int as n from run_points where run_id like '${sweepId}.%'`, '--json'], env, 60_000);
        return (JSON.parse(r.stdout) as { n: number }[])[0]?.n ?? 0;
      };
      await until('two eval points committed', async () => (await points()) >= 2, 240_000, 500);
      process.kill(-(worker.pid as number), 'SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([workerExit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 120_000)))]);
      clearTimeout(timer);
      assert.equal(code, 0, werr);
      assert.doesNotMatch(werr, /again: exiting at once/, 'the slot was not cut short');
      const seg = await runCli(['sql', `select status, reached_step from run_segments where run_id like '${sweepId}.%' order by id`, '--json'], env, 60_000);
      const rows = JSON.parse(seg.stdout) as { status: string; reached_step: number | null }[];
      assert.equal(rows.at(-1)?.status, 'drained', seg.stdout);
      assert.equal((rows.at(-1)?.reached_step ?? 1) % 200, 0, 'drained at an eval point');
    } finally {
      if (worker.exitCode === null) process.kill(-(worker.pid as number), 'SIGKILL');
      ctrlC(dev);
      await exitWithin(dev, 60_000, 'Ctrl-C');
    }
    await nothingLeft(dev);
  });

  it('dev: Ctrl-C stops the workers, Temporal and PostgreSQL, exit 0', async () => {
    const dev = start(['dev', '--workers', '1']);
    await until('the stack ready', async () => /Ready\./.test(dev.stderr()), 240_000, 200);
    ctrlC(dev);
    const exit = await exitWithin(dev, 60_000, 'Ctrl-C');
    assert.equal(exit.code, 0, dev.stderr());
    assert.match(dev.stderr(), /stopped\.\n?$/);
    assert.doesNotMatch(dev.stderr(), /\n\s+at |Native Promise was dropped/, 'a clean stop');
    await nothingLeft(dev);
    assert.equal(existsSync(path.join(dev.home, 'endpoints.json')), false, 'the endpoints file is removed');
  });

  it('kill -9 of dev: the next dev on its state directory stops the Temporal and PostgreSQL left running, keeps their data, and comes up', async () => {
    const first = start(['dev', '--workers', '0']);
    await until('the stack ready', async () => /Ready\./.test(first.stderr()), 240_000, 200);
    const env = { SPARSITY_HOME: first.home, DATABASE_URL: '', TEMPORAL_ADDRESS: '' };
    const sub = await runCli(['submit', 'examples/quick.yaml', '--json'], env, 120_000);
    assert.equal(sub.code, 0, sub.stderr);
    const sweepId = (JSON.parse(sub.stdout) as { sweepId: string }).sweepId;
    const owner = JSON.parse(readFileSync(path.join(first.home, 'services.json'), 'utf8')) as { pid: number; services: { postgres: { pid: number }; temporal: { pid: number } } };
    assert.equal(owner.pid, first.child.pid);
    process.kill(first.child.pid as number, 'SIGKILL');
    await first.exited;
    const { postgres, temporal } = owner.services;
    for (const pid of [postgres.pid, temporal.pid]) assert.equal(isAlive(pid), true, `pid ${pid} outlived the killed dev (the case this handles)`);

    const second = start(['dev', '--workers', '0'], first.home);
    await until('the second stack ready', async () => /Ready\./.test(second.stderr()), 240_000, 200);
    assert.match(
      second.stderr(),
      new RegExp(`stopping the PostgreSQL \\(pid ${postgres.pid}\\) and Temporal dev server \\(pid ${temporal.pid}\\) left running by \`sparsity dev --workers 0\` \\(pid ${first.child.pid}, since [^)]+\\), which ended without stopping them; their data is kept`),
    );
    // Stopped: gone, or a zombie its new parent (init) has not reaped yet.
    for (const pid of [postgres.pid, temporal.pid]) assert.equal(isAlive(pid), false, `pid ${pid} stopped`);
    const kept = await runCli(['sql', `select status, workflow_id from sweeps where id = '${sweepId}'`, '--json'], env, 60_000);
    const [row] = JSON.parse(kept.stdout) as { status: string; workflow_id: string }[];
    assert.equal(row?.status, 'running', kept.stderr);
    const { temporalAddress } = JSON.parse(readFileSync(path.join(first.home, 'endpoints.json'), 'utf8')) as { temporalAddress: string };
    const connection = await Connection.connect({ address: temporalAddress });
    try {
      const described = await new Client({ connection }).workflow.getHandle(row.workflow_id).describe();
      assert.equal(described.status.name, 'RUNNING', "the sweep's workflow is kept in Temporal");
    } finally {
      await connection.close();
    }
    ctrlC(second);
    assert.equal((await exitWithin(second, 60_000, 'Ctrl-C')).code, 0, second.stderr());
    await nothingLeft(second);
    assert.equal(existsSync(path.join(first.home, 'services.json')), false, 'the owner file goes with the services');
  });

  it('kill -9 of a command while its PostgreSQL starts: the next command stops that server and answers', async () => {
    const first = start(['sql', 'select 1']);
    const owner = path.join(first.home, 'services.json');
    // The server is recorded as soon as it is spawned, before it accepts connections: kill in that window.
    await until('PostgreSQL spawned', async () => existsSync(owner) && /"postgres"/.test(readFileSync(owner, 'utf8')), 60_000, 10);
    process.kill(first.child.pid as number, 'SIGKILL');
    await first.exited;
    const pid = (JSON.parse(readFileSync(owner, 'utf8')) as { services: { postgres: { pid: number } } }).services.postgres.pid;
    const env = { SPARSITY_HOME: first.home, DATABASE_URL: '', TEMPORAL_ADDRESS: '' };
    const next = await runCli(['sql', 'select 1 as one', '--json'], env, 120_000);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(JSON.parse(next.stdout), [{ one: 1 }]);
    assert.match(next.stderr, new RegExp(`stopping the PostgreSQL \\(pid ${pid}\\) left running by \`sparsity sql select 1\` \\(pid ${first.child.pid}, since [^)]+\\), which ended without stopping them`));
    await nothingLeft(first);
  });
});
