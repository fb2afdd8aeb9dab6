// `sparsity study`: a folder of sweeps trained on local slots under one budget, through its own
// Temporal dev server and a real PostgreSQL; each sweep's report, fits.json and points.csv written;
// a sweep still training when the budget runs out cancelled, what it stored kept and written.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { CLI, createTestDatabase, runCli, until } from '../harness';

const sweep = (name: string, steps: number) => `name: ${name}
taskQueue: study-${Math.random().toString(36).slice(2, 8)}
model: {family: mlp, inputDim: 8, outputDim: 4}
data: {kind: teacher, valSize: 64}
training: {steps: ${steps}, batchSize: 16, evalEvery: 10}
measure: {metrics: [exact, ppl-1%], primary: ppl-1%}
grid: {activation: [relu, silu], size: [{dModel: 16, nLayers: 1}]}
`;

describe('sparsity study', { timeout: 600_000 }, () => {
  let dir: string;
  let db: { url: string; drop(): Promise<void> };
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sparsity-study-'));
    db = await createTestDatabase();
    // Its own Temporal dev server (no TEMPORAL_ADDRESS), the test's PostgreSQL.
    env = { SPARSITY_HOME: path.join(dir, 'home'), DATABASE_URL: db.url, TEMPORAL_ADDRESS: '', SPARSITY_BACKEND: 'wasm' };
  });
  after(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('trains the sweeps in order, writes each one\'s outputs, cancels what the budget cuts off (exit 1)', async () => {
    const studyDir = path.join(dir, 'sweeps');
    mkdirSync(studyDir);
    // Both share one task queue (the slots serve one).
    const a = sweep('study-a', 30);
    writeFileSync(path.join(studyDir, 'a.yaml'), a);
    writeFileSync(path.join(studyDir, 'b.yaml'), sweep('study-b', 200_000).replace(/taskQueue: .*/, a.split('\n')[1]));
    writeFileSync(path.join(studyDir, 'notes.txt'), 'not a sweep file');
    const out = path.join(dir, 'out');
    const r = await runCli(['study', studyDir, '--out', out, '--slots', '1', '--budget', '100', '--backend', 'wasm', '--json'], env, 300_000);
    assert.equal(r.code, 1, r.stderr);
    const result = JSON.parse(r.stdout) as { budgetRanOut: boolean; sweeps: { name: string; status: string; completed: number; total: number }[] };
    assert.equal(result.budgetRanOut, true);
    assert.deepEqual(result.sweeps.map((s) => [s.name, s.status, s.completed, s.total]), [['study-a', 'completed', 2, 2], ['study-b', 'cancelled', 0, 2]]);
    for (const f of ['index.html', 'fits.json', 'points.csv']) assert.ok(existsSync(path.join(out, 'study-a', f)), f);
    const fits = JSON.parse(readFileSync(path.join(out, 'study-a', 'fits.json'), 'utf8')) as { law: string }[];
    assert.ok(fits.some((f) => f.law === 'relu-logspace'));
    // The cancelled sweep: no report (no completed run), its stored points kept and written.
    assert.match(readFileSync(path.join(out, 'study-b', 'index.html'), 'utf8'), /has no completed runs, so there is no report/);
    const points = readFileSync(path.join(out, 'study-b', 'points.csv'), 'utf8').trimEnd().split('\n');
    assert.ok(points.length > 1, 'the cancelled runs\' points');
  });

  it('Ctrl-C ends the study as its budget would: what trains is cancelled, what completed is written, exit 130', async () => {
    const studyDir = path.join(dir, 'sweeps-intr');
    mkdirSync(studyDir);
    const a = sweep('intr-a', 30);
    writeFileSync(path.join(studyDir, 'a.yaml'), a);
    writeFileSync(path.join(studyDir, 'b.yaml'), sweep('intr-b', 200_000).replace(/taskQueue: .*/, a.split('\n')[1]));
    const out = path.join(dir, 'out-intr');
    // Its own process group, as a terminal's foreground job; Ctrl-C reaches the whole group.
    const child = spawn(process.execPath, [CLI, 'study', studyDir, '--out', out, '--slots', '1', '--budget', '900', '--backend', 'wasm', '--json'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until('intr-b training', async () => /intr-b: sweep \S+ submitted/.test(stderr) && /intr-a: 2\/2 runs completed/.test(stderr), 240_000, 200);
      await new Promise((r) => setTimeout(r, 3000));
      const t0 = Date.now();
      process.kill(-(child.pid as number), 'SIGINT');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref())]);
      assert.equal(code, 130, stderr);
      process.stderr.write(`study: exit 130 ${Date.now() - t0} ms after Ctrl-C\n`);
    } finally {
      if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
    }
    assert.match(stderr, /interrupted \(SIGINT\): the sweeps still training were cancelled/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    const result = JSON.parse(stdout) as { sweeps: { name: string; status: string; completed: number; total: number }[] };
    assert.deepEqual(result.sweeps.map((s) => [s.name, s.status, s.completed, s.total]), [['intr-a', 'completed', 2, 2], ['intr-b', 'cancelled', 0, 2]]);
    for (const f of ['index.html', 'fits.json', 'points.csv']) assert.ok(existsSync(path.join(out, 'intr-a', f)), f);
    assert.ok(existsSync(path.join(out, 'intr-b', 'points.csv')), 'the cancelled sweep\'s points written');
  });

  it('refuses a bad sweep file in the folder before starting anything (exit 2, file and field named)', async () => {
    const bad = path.join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'a.yaml'), sweep('ok-one', 20));
    writeFileSync(path.join(bad, 'b.yaml'), sweep('bad-one', 20).replace('evalEvery: 10', 'evalEvery: 0'));
    const r = await runCli(['study', bad, '--out', path.join(dir, 'out2')], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /b\.yaml[\s\S]*training\.evalEvery/);
    assert.equal(existsSync(path.join(dir, 'out2')), false);
    for (const [flags, re] of [[['--budget', '30'], /--budget must be at least 60 seconds/], [['--slots', '0'], /--slots must be a whole number ≥ 1 \(got "0"\)/], [['--slots', '100000'], /--slots 100000: more training slots than this host can run \(at most \d+: 8 per core/]] as const) {
      const r2 = await runCli(['study', bad, '--out', path.join(dir, 'out2'), ...flags], env);
      assert.equal(r2.code, 2, r2.stderr);
      assert.match(r2.stderr, re);
    }
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    const e = await runCli(['study', empty, '--out', path.join(dir, 'out3')], env);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /holds no \*\.yaml sweep file/);
  });
});
