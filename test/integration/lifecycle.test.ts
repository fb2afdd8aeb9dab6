// A sweep's later life on real servers: retry a failed and a cancelled run, refuse a retry
// while the sweep runs, reuse completed runs in a second sweep, extend a sweep's grid, and
// --no-reuse. Assertions are on what was trained (attempts, points' recorded_at), not just statuses.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLocalWorkers, type LocalWorkers } from '../../stack/stack';
import { cancelSweep, submitSweep, waitForSweep } from '../../client/sweeps';
import { runIdOf } from '../../domain/grid';
import type { SweepFileInput } from '../../domain/sweepSchema';
import { runCli, startTestStack, until, type TestStack } from '../harness';
import { tinySweep, tinySweepInput } from '../sweeps';

describe('retry, reuse and extend (real Temporal + Postgres)', { timeout: 900_000 }, () => {
  let stack: TestStack;
  let workers: LocalWorkers | undefined;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const taskQueue = `lifecycle-${Math.random().toString(36).slice(2, 8)}`;
  const baseInput = tinySweepInput({ name: 'lc', taskQueue });
  let sweepA = '';

  const runsOf = (sweepId: string) => stack.db.selectFrom('runs').selectAll().where('sweep_id', '=', sweepId).orderBy('run_index').execute();
  const sweepRow = (sweepId: string) => stack.db.selectFrom('sweeps').selectAll().where('id', '=', sweepId).executeTakeFirstOrThrow();
  const writeSweep = (name: string, input: SweepFileInput) => {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, JSON.stringify(input)); // JSON is YAML
    return file;
  };
  const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() as string);

  before(async () => {
    stack = await startTestStack();
    env = { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl, SPARSITY_HOME: stack.home };
    dir = mkdtempSync(path.join(os.tmpdir(), 'sparsity-lifecycle-'));
    // Sweep A, submitted before any worker serves its queue: run 0 is made to fail by a cause the
    // test removes later (a stored key that no longer matches its configuration: non-retryable).
    const submitted = await submitSweep(stack.db, stack.client, tinySweep({ name: 'lc', taskQueue }));
    sweepA = submitted.sweepId;
    await stack.db.updateTable('runs').set({ run_key: 'not-this-config' }).where('id', '=', runIdOf(sweepA, 0)).execute();
    workers = startLocalWorkers(stack.endpoints, { taskQueue, slots: 2 });
    const final = await waitForSweep(stack.db, stack.client, sweepA);
    assert.equal(final.status, 'completed');
    assert.deepEqual(final.runsDetail.map((r) => r.status), ['failed', 'completed', 'completed', 'completed']);
  });

  after(async () => {
    await workers?.stop();
    await stack?.stop();
  });

  it('refuses a retry with nothing to retry, or of a completed or unknown run (exit 2, nothing changed)', async () => {
    const none = await runCli(['retry', sweepA, '--cancelled'], env);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, new RegExp(`sweep ${sweepA} has no cancelled runs to retry`));
    const done = await runCli(['retry', sweepA, '--run', runIdOf(sweepA, 1)], env);
    assert.equal(done.code, 2);
    assert.match(done.stderr, /--run .*r0001: the run is completed; only failed or cancelled runs can be retried/);
    const unknown = await runCli(['retry', sweepA, '--run', 'nope.r0001'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--run nope\.r0001: no such run in sweep/);
    assert.equal((await sweepRow(sweepA)).executions, 1);
    assert.equal((await runsOf(sweepA))[0].status, 'failed');
  });

  it('retries a failed run once its cause is removed: the same sweep completes it, counts and fits recomputed', async () => {
    const run0 = (await runsOf(sweepA))[0];
    assert.equal(run0.attempts, 0, 'refused before training');
    assert.match(run0.error ?? '', /refusing to train it/);
    const { hashJson } = await import('../../domain/hash');
    await stack.db.updateTable('runs').set({ run_key: hashJson(run0.config) }).where('id', '=', run0.id).execute();
    const r = await runCli(['retry', sweepA, '--failed', '--wait', '--json'], env, 300_000);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.deepEqual(out.runs, [run0.id]);
    assert.equal(out.workflowId, `sweep-${sweepA}-retry-1`);
    assert.equal(out.status, 'completed');
    assert.deepEqual(out.counts, { total: 4, completed: 4, running: 0, failed: 0, cancelled: 0, pending: 0 });
    const after = await runsOf(sweepA);
    assert.equal(after[0].status, 'completed');
    assert.ok(after[0].attempts >= 2, `trained in segments: ${after[0].attempts} attempts`);
    assert.equal(after[0].error, null);
    const points = await stack.db.selectFrom('run_points').select('step').where('run_id', '=', run0.id).orderBy('step').execute();
    assert.deepEqual(points.map((p) => p.step), [10, 20, 30, 40]);
    const sweep = await sweepRow(sweepA);
    assert.equal(sweep.executions, 2);
    assert.equal(sweep.workflow_id, `sweep-${sweepA}-retry-1`);
    assert.match(sweep.message ?? '', /^4 completed, 0 failed, 0 cancelled; \d+ laws fitted/);
  });

  it('a second sweep reuses the four completed runs and trains only the others', async () => {
    const input = { ...baseInput, name: 'lc-more', grid: { ...baseInput.grid, activation: ['relu', 'silu', 'gelu'] } } as SweepFileInput;
    const r = await runCli(['submit', writeSweep('more', input), '--wait', '--json'], env, 300_000);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.runs, 6);
    assert.equal(out.reused, 4);
    assert.equal(out.status, 'completed');
    const a = new Map((await runsOf(sweepA)).map((x) => [x.run_key, x]));
    const b = await runsOf(out.sweepId);
    const reused = b.filter((x) => x.reused_from !== null);
    assert.equal(reused.length, 4);
    for (const x of reused) {
      const src = a.get(x.run_key);
      assert.ok(src, 'copied from the run with the same key');
      assert.equal(x.reused_from, src.id);
      assert.equal(x.status, 'completed');
      assert.equal(x.attempts, 0, 'not trained again');
      assert.equal(x.train_seconds, 0);
      assert.equal(x.final_val_loss, src.final_val_loss);
      const pts = (id: string) => stack.db.selectFrom('run_points').select(['step', 'val_loss', 'activation_ratio']).where('run_id', '=', id).orderBy('step').execute();
      assert.deepEqual(await pts(x.id), await pts(src.id));
      const layers = (id: string) => stack.db.selectFrom('layer_points').select((eb) => eb.fn.countAll<number>().as('n')).where('run_id', '=', id).executeTakeFirstOrThrow();
      assert.equal(Number((await layers(x.id)).n), Number((await layers(src.id)).n));
    }
    const trained = b.filter((x) => x.reused_from === null);
    assert.deepEqual(trained.map((x) => x.config.model.activation), ['gelu', 'gelu']);
    for (const x of trained) assert.ok(x.attempts >= 2 && x.status === 'completed', `${x.id} trained here`);
    assert.match((await sweepRow(out.sweepId)).message ?? '', /^6 completed \(4 reused\)/);

    const status = await runCli(['status', out.sweepId], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /6 completed \(4 reused from earlier sweeps, not trained here\)/);
    assert.match(status.stdout, /reused_from/);
    // Compute: only the two gelu runs were trained here; the reused runs' steps are not counted again.
    const steps = (rows: typeof b) => rows.reduce((acc, x) => acc + x.steps_done, 0);
    const compute = (JSON.parse((await runCli(['status', out.sweepId, '--json'], env)).stdout) as { compute: { stepsTrained: number; stepsReused: number } }).compute;
    assert.deepEqual({ trained: compute.stepsTrained, reused: compute.stepsReused }, { trained: steps(trained), reused: steps(reused) });
    assert.ok(compute.stepsReused > 0);
    assert.match(status.stdout, new RegExp(`compute: ${steps(trained)} steps trained here; ${steps(reused)} steps in reused runs, trained by earlier sweeps`));
  });

  it('--no-reuse trains every run', async () => {
    const r = await runCli(['submit', writeSweep('again', { ...baseInput, name: 'lc-again' }), '--no-reuse', '--wait', '--json'], env, 300_000);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.reused, 0);
    const runs = await runsOf(out.sweepId);
    assert.equal(runs.length, 4);
    for (const x of runs) assert.ok(x.reused_from === null && x.attempts >= 2 && x.status === 'completed', `${x.id} trained`);
  });

  it('refuses an extension that changes anything but grid lists, or drops a value (exit 2, nothing written)', async () => {
    const before = await sweepRow(sweepA);
    const steps = await runCli(['extend', sweepA, writeSweep('bad-steps', { ...baseInput, training: { ...baseInput.training, steps: 80 } })], env);
    assert.equal(steps.code, 2, steps.stderr);
    assert.match(steps.stderr, /extend: base\.training\.steps differs from the stored sweep's \(40 stored, 80 in the file\)/);
    const dropped = await runCli(['extend', sweepA, writeSweep('bad-drop', { ...baseInput, grid: { ...baseInput.grid, activation: ['relu'] } })], env);
    assert.equal(dropped.code, 2);
    assert.match(dropped.stderr, /extend: grid\.activation no longer holds "silu"/);
    const same = await runCli(['extend', sweepA, writeSweep('same', baseInput)], env);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /the file adds no runs/);
    const after = await sweepRow(sweepA);
    assert.equal(after.executions, before.executions);
    assert.equal((await runsOf(sweepA)).length, 4);
  });

  it('extends a sweep: new runs get fresh indices and train, existing runs stay as they were', async () => {
    const beforeRuns = await runsOf(sweepA);
    const fitPoints = async () =>
      Number((await stack.db.selectFrom('fits').select((eb) => eb.fn.sum<number>('n').as('n')).where('sweep_id', '=', sweepA).executeTakeFirstOrThrow()).n ?? 0);
    const fitPointsBefore = await fitPoints();
    const input = { ...baseInput, grid: { ...baseInput.grid, seed: [0, 1] } };
    const r = await runCli(['extend', sweepA, writeSweep('seeds', input), '--wait', '--json'], env, 300_000);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.added, 4);
    assert.equal(out.reused, 0);
    assert.equal(out.status, 'completed');
    assert.deepEqual(out.counts, { total: 8, completed: 8, running: 0, failed: 0, cancelled: 0, pending: 0 });
    const runs = await runsOf(sweepA);
    assert.deepEqual(runs.map((x) => x.id), Array.from({ length: 8 }, (_, i) => runIdOf(sweepA, i)));
    for (const [i, x] of beforeRuns.entries()) {
      assert.equal(runs[i].run_key, x.run_key, 'an existing run keeps its index');
      assert.equal(runs[i].attempts, x.attempts, 'and is not trained again');
    }
    for (const x of runs.slice(4)) {
      assert.equal(x.config.seed, 1);
      assert.ok(x.attempts >= 2 && x.status === 'completed', `${x.id} trained`);
    }
    const sweep = await sweepRow(sweepA);
    assert.equal(sweep.total_runs, 8);
    assert.deepEqual(sweep.spec.grid.seed, [0, 1]);
    assert.equal(sweep.workflow_id, `sweep-${sweepA}-extend-2`);
    assert.match(sweep.message ?? '', /^8 completed, 0 failed, 0 cancelled; \d+ laws fitted/);
    assert.ok(fitPointsBefore > 0, 'the four runs supported some fit');
    assert.ok((await fitPoints()) > fitPointsBefore, 'refitted over all eight runs');
  });

  it('refuses retry and extend while the sweep still runs (exit 2)', async () => {
    // A queue nobody serves: the sweep stays running for as long as the test needs.
    const idle = tinySweep({ name: 'lc-idle', taskQueue: `${taskQueue}-idle` });
    const { sweepId } = await submitSweep(stack.db, stack.client, idle);
    await stack.db.updateTable('runs').set({ status: 'failed' }).where('id', '=', runIdOf(sweepId, 0)).execute();
    const retry = await runCli(['retry', sweepId], env);
    assert.equal(retry.code, 2, retry.stderr);
    assert.match(retry.stderr, new RegExp(`sweep ${sweepId} is still running \\(workflow sweep-${sweepId}\\); wait for it .* or cancel it .* before you retry it`));
    const input = tinySweepInput({ name: 'lc-idle', taskQueue: `${taskQueue}-idle`, grid: { ...baseInput.grid, seed: [0, 1] } });
    const extend = await runCli(['extend', sweepId, writeSweep('idle-more', input)], env);
    assert.equal(extend.code, 2, extend.stderr);
    assert.match(extend.stderr, /is still running .* before you extend it/);
    assert.equal((await sweepRow(sweepId)).executions, 1);
    assert.equal((await runsOf(sweepId)).length, 4, 'nothing added');
    await cancelSweep(stack.db, stack.client, sweepId, 5000);
  });

  it('retries a cancelled run from its checkpoint: the points before it are not trained again', async () => {
    const spec = tinySweep({
      name: 'lc-cancel',
      taskQueue,
      // Long enough that it cannot finish between the cancel and the heartbeat that delivers it (up to
      // ~8 s at heartbeatTimeout 10): a 1,200-step run did, once, on a busy machine.
      segmentSteps: 20_000,
      training: { steps: 20_000, batchSize: 32, evalEvery: 200 },
      measure: { metrics: ['exact'], primary: 'exact' },
      grid: { activation: ['relu'], size: [{ dModel: 32, nLayers: 2 }], pruning: [{ schedule: 'none' }], seed: [0] },
    });
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    const runId = runIdOf(sweepId, 0);
    await until('a few points committed', async () => {
      const ck = await stack.db.selectFrom('checkpoints').select('step').where('run_id', '=', runId).executeTakeFirst();
      return ck && ck.step >= 600;
    });
    assert.equal((await cancelSweep(stack.db, stack.client, sweepId, 30_000)).status, 'cancelled');
    const cancelled = (await runsOf(sweepId))[0];
    assert.equal(cancelled.status, 'cancelled');
    // The cancelled segment sees the cancellation at its next heartbeat and may commit a few more
    // points first: wait until its segment row says it stopped, so the checkpoint is final.
    await until('the cancelled segment to stop', async () => {
      const live = await stack.db.selectFrom('run_segments').select('id').where('run_id', '=', runId).where('status', '=', 'running').executeTakeFirst();
      return live === undefined;
    });
    const ck = await stack.db.selectFrom('checkpoints').select('step').where('run_id', '=', runId).executeTakeFirstOrThrow();
    assert.ok(ck.step >= 600 && ck.step < 20_000, `cancelled mid-run, checkpoint at ${ck.step}`);
    const retryStart = new Date();

    const r = await runCli(['retry', sweepId, '--cancelled', '--wait', '--json'], env, 300_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastJson(r.stdout).status, 'completed');
    const done = (await runsOf(sweepId))[0];
    assert.equal(done.status, 'completed');
    assert.ok(done.attempts > cancelled.attempts, 'attempts keep counting');
    const points = await stack.db.selectFrom('run_points').select(['step', 'recorded_at']).where('run_id', '=', runId).orderBy('step').execute();
    assert.deepEqual(points.map((p) => p.step), Array.from({ length: 100 }, (_, i) => (i + 1) * 200), 'every eval point exactly once');
    // Resumed, not restarted: the points up to the checkpoint were not trained again.
    const kept = points.filter((p) => p.step <= ck.step);
    assert.ok(kept.length >= 3 && kept.every((p) => p.recorded_at < retryStart), 'points before the checkpoint kept from the first attempt');
  });
});
