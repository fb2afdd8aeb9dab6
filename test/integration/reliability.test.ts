// Fault injection with real processes: kill -9 a worker mid-segment, kill the Temporal
// server, restart PostgreSQL, cancel, pause/resume, a diverging run. Each proves that no
// stored point is lost or duplicated and that results equal an undisturbed run's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startLocalWorkers } from '../../stack/stack';
import { submitSweep, sweepStatus, waitForSweep } from '../../client/sweeps';
import { sweepSegments } from '../../db/provenance';
import type { Db } from '../../db/connect';
import { pauseSignal, resumeSignal } from '../../workflows/sweep';
import { killGroup, runCli, spawnWorker, startTestStack, until, type TestStack } from '../harness';
import { tinySweep } from '../sweeps';

type PointRow = { step: number; tokens: number; train_loss: number; val_loss: number; activation_ratio: number | null; nonzero_params: number };

async function pointsByRun(db: Db, sweepId: string): Promise<Map<number, PointRow[]>> {
  const rows = await db
    .selectFrom('run_points')
    .innerJoin('runs', 'runs.id', 'run_points.run_id')
    .select(['runs.run_index', 'run_points.step', 'run_points.tokens', 'run_points.train_loss', 'run_points.val_loss', 'run_points.activation_ratio', 'run_points.nonzero_params'])
    .where('runs.sweep_id', '=', sweepId)
    .orderBy('runs.run_index')
    .orderBy('run_points.step')
    .execute();
  const out = new Map<number, PointRow[]>();
  for (const r of rows) {
    const { run_index, ...point } = r;
    out.set(run_index, [...(out.get(run_index) ?? []), point]);
  }
  return out;
}

function assertEvalSteps(points: Map<number, PointRow[]>, steps: number, every: number, runs: number) {
  const want = Array.from({ length: Math.ceil(steps / every) }, (_, i) => Math.min(steps, (i + 1) * every));
  assert.equal(points.size, runs);
  for (const [run, ps] of points) assert.deepEqual(ps.map((p) => p.step), want, `run ${run}: every eval point exactly once`);
}

const longer = (name: string, taskQueue?: string) =>
  tinySweep({
    name,
    ...(taskQueue ? { taskQueue } : {}),
    maxParallel: 2,
    segmentSteps: 400,
    training: { steps: 400, batchSize: 32, evalEvery: 20 },
    measure: { metrics: ['exact'], primary: 'exact' },
    grid: { activation: ['relu', 'silu'], size: [{ dModel: 32, nLayers: 2 }], seed: [0] },
  });

describe('reliability (real processes, real servers)', { timeout: 900_000 }, () => {
  let stack: TestStack & { pg?: { stop(): Promise<void>; start(): Promise<void> } };

  before(async () => {
    stack = await startTestStack({ embeddedPostgres: true });
  });
  after(async () => {
    await stack?.stop();
  });

  it('a worker killed with kill -9 mid-segment costs a few steps, never a point: results equal an undisturbed run', async () => {
    const spec = longer('killed');
    const first = spawnWorker(stack.endpoints, ['--task-queue', spec.taskQueue, '--slots', '2']);
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    // Wait until both runs have committed some points but are far from done.
    await until('points committed mid-run', async () => {
      const p = await pointsByRun(stack.db, sweepId);
      return p.size === 2 && [...p.values()].every((ps) => ps.length >= 3);
    });
    // Segments name the slot process (`host:pid/slotN`): the first worker's slots are its children.
    const firstSlots = spawnSync('ps', ['-o', 'pid=', '--ppid', String(first.pid)], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    assert.equal(firstSlots.length, 2, 'two slot processes');
    const ofFirst = (worker: string | null) => firstSlots.some((pid) => worker?.includes(`:${pid}/`));
    killGroup(first);
    const killedAt = await pointsByRun(stack.db, sweepId);
    assert.ok([...killedAt.values()].every((ps) => ps.length < 20), 'killed before the end');
    const second = spawnWorker(stack.endpoints, ['--task-queue', spec.taskQueue, '--slots', '2']);
    try {
      const final = await waitForSweep(stack.db, stack.client, sweepId);
      assert.equal(final.status, 'completed');
      assert.equal(final.runs.completed, 2);
      const disturbed = await pointsByRun(stack.db, sweepId);
      assertEvalSteps(disturbed, 400, 20, 2);
      const runs = await stack.db.selectFrom('runs').select(['worker', 'run_index']).where('sweep_id', '=', sweepId).execute();
      assert.ok(runs.every((r) => r.worker && !ofFirst(r.worker)), 'finished by the second worker');
      // The killed worker's segments could not report: each is `abandoned` at the last step it committed.
      const segments = await sweepSegments(stack.db, sweepId);
      assert.equal(segments.filter((g) => g.status === 'running').length, 0, 'no segment left running');
      const killed = segments.filter((g) => ofFirst(g.worker));
      assert.ok(killed.length >= 1, JSON.stringify(segments.map((g) => [g.worker, g.status])));
      // What the killed worker was training could not report (a run between two segments at that moment has none).
      assert.ok(killed.some((g) => g.status === 'abandoned'), JSON.stringify(killed.map((g) => [g.runId, g.status])));
      assert.ok(killed.every((g) => g.status === 'abandoned' || g.status === 'completed'), JSON.stringify(killed.map((g) => [g.runId, g.status])));
      for (const g of killed.filter((k) => k.status === 'abandoned')) {
        assert.ok(g.finishedAt);
        // What it committed, if anything, lies in its own range.
        assert.ok(g.reachedStep === null || (g.reachedStep > g.fromStep && g.reachedStep <= g.toStep), `reached ${g.reachedStep} in ${g.fromStep}..${g.toStep}`);
      }

      // The same sweep, undisturbed, under another name: identical points, bit for bit.
      const again = await submitSweep(stack.db, stack.client, { ...spec, name: 'undisturbed' });
      const clean = await waitForSweep(stack.db, stack.client, again.sweepId);
      assert.equal(clean.status, 'completed');
      assert.deepEqual(await pointsByRun(stack.db, again.sweepId), disturbed);
    } finally {
      killGroup(second);
    }
  });

  /** Starts a sweep, applies `fault` once some points are stored, and checks that it completes whole. */
  async function survives(name: string, fault: () => Promise<void>): Promise<void> {
    const spec = longer(name);
    const workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: 2 });
    try {
      const { sweepId } = await submitSweep(stack.db, stack.client, spec);
      await until('points committed', async () => {
        const p = await pointsByRun(stack.db, sweepId);
        return [...p.values()].some((ps) => ps.length >= 2);
      });
      await fault();
      const final = await waitForSweep(stack.db, stack.client, sweepId);
      assert.equal(final.status, 'completed', JSON.stringify(final.runsDetail.map((r) => r.error)));
      assertEvalSteps(await pointsByRun(stack.db, sweepId), 400, 20, 2);
    } finally {
      await workers.stop();
    }
  }

  it('the Temporal server killed and restarted mid-sweep: the sweep completes, nothing lost', () =>
    survives('temporal-restart', () => stack.restartTemporal()));

  it('PostgreSQL restarted mid-sweep: activities retry, nothing lost or duplicated', () =>
    survives('pg-restart', async () => {
      await stack.pg?.stop();
      await new Promise((r) => setTimeout(r, 3000));
      await stack.pg?.start();
    }));

  it('pause holds new runs back, resume continues; cancel stops every run within the heartbeat timeout', async () => {
    const spec = tinySweep({
      name: 'steer',
      maxParallel: 1,
      heartbeatTimeout: 10,
      training: { steps: 2000, batchSize: 32, evalEvery: 50 },
      segmentSteps: 2000,
      measure: { metrics: ['exact'], primary: 'exact' },
      grid: { activation: ['relu'], size: [{ dModel: 32, nLayers: 2 }], seed: [0, 1, 2] },
    });
    const workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: 1 });
    const env = { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl };
    try {
      const { sweepId, workflowId } = await submitSweep(stack.db, stack.client, spec);
      await until('the first run running', async () => (await sweepStatus(stack.db, undefined, sweepId)).runs.running === 1);
      await stack.client.workflow.getHandle(workflowId).signal(pauseSignal);
      const paused = await runCli(['status', sweepId, '--json'], env);
      assert.equal(JSON.parse(paused.stdout).status, 'paused');
      await new Promise((r) => setTimeout(r, 4000));
      const held = await sweepStatus(stack.db, undefined, sweepId);
      assert.equal(held.runs.pending, 2, 'no new run starts while paused');
      await stack.client.workflow.getHandle(workflowId).signal(resumeSignal);

      // Cancel through the CLI while the runs are in flight.
      const t0 = Date.now();
      const cancel = await runCli(['cancel', sweepId, '--json'], env);
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.equal(JSON.parse(cancel.stdout).status, 'cancelled');
      const s = await sweepStatus(stack.db, undefined, sweepId);
      assert.equal(s.runs.cancelled + s.runs.completed, 3);
      assert.ok(s.runs.cancelled >= 2);
      assert.ok(Date.now() - t0 < (spec.heartbeatTimeoutSeconds + 10) * 1000, 'within the heartbeat timeout');

      // The slot is free again: a new sweep on the same queue runs at once.
      const next = await submitSweep(stack.db, stack.client, { ...tinySweep({ name: 'after-cancel' }), taskQueue: spec.taskQueue });
      const done = await waitForSweep(stack.db, stack.client, next.sweepId);
      assert.equal(done.status, 'completed');
    } finally {
      await workers.stop();
    }
  });

  it('one run cancelled on its own (web UI, temporal CLI) is one cancelled run; the sweep goes on', async () => {
    const spec = tinySweep({
      name: 'one-cancelled',
      maxParallel: 2,
      segmentSteps: 2000,
      training: { steps: 2000, batchSize: 32, evalEvery: 100 },
      measure: { metrics: ['exact'], primary: 'exact' },
      grid: { activation: ['relu'], size: [{ dModel: 16, nLayers: 1 }], seed: [0, 1, 2] },
    });
    const workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: 2 });
    try {
      const { sweepId } = await submitSweep(stack.db, stack.client, spec);
      await until('the first run running', async () => (await sweepStatus(stack.db, undefined, sweepId)).runsDetail[0].status === 'running');
      await stack.client.workflow.getHandle(`${sweepId}.r0000`).cancel();
      const final = await waitForSweep(stack.db, stack.client, sweepId);
      assert.equal(final.status, 'completed');
      assert.deepEqual(
        final.runsDetail.map((r) => r.status),
        ['cancelled', 'completed', 'completed'],
      );
    } finally {
      await workers.stop();
    }
  });

  it('a diverging run is marked failed with its reason; the sweep goes on', async () => {
    const spec = tinySweep({
      name: 'diverge',
      optim: { lr: 0.01, gradClip: 0 },
      measure: { metrics: ['exact'], primary: 'exact' },
      grid: { activation: ['relu'], size: [{ dModel: 16, nLayers: 2 }], lr: [0.01, 1e38] },
    });
    const workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: 2 });
    try {
      const { sweepId } = await submitSweep(stack.db, stack.client, spec);
      const final = await waitForSweep(stack.db, stack.client, sweepId);
      assert.equal(final.status, 'completed');
      const byLabel = new Map(final.runsDetail.map((r) => [r.label, r]));
      const good = [...byLabel.values()].find((r) => r.label.includes('lr0.01'));
      const bad = [...byLabel.values()].find((r) => r.label.includes('lr1e+38'));
      assert.equal(good?.status, 'completed');
      assert.equal(bad?.status, 'failed');
      assert.match(bad?.error ?? '', /loss became (NaN|Infinity|-Infinity) at step \d+/);
    } finally {
      await workers.stop();
    }
  });
});
