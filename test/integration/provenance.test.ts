// Provenance and a fleet's deploys, with real worker processes (issues 12.6, 13.3, 13.4):
// - SIGTERM mid-segment: each slot trains to its next eval point, commits and exits; another
//   worker (another build, unversioned) finishes; nothing lost, nothing retrained, the run is
//   marked as trained by mixed builds; its device and build are stored and shown.
// - Pinned Worker Versioning: a sweep started on build A keeps every segment on build A after
//   build B is deployed (and made current); a new sweep runs on B.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { submitSweep, waitForSweep } from '../../client/sweeps';
import type { Db } from '../../db/connect';
import { sweepSegments } from '../../db/provenance';
import { deploymentNameOf } from '../../domain/provenance';
import { killGroup, runCli, spawnWorker, startTestStack, until, type TestStack } from '../harness';
import { tinySweep } from '../sweeps';

async function lastSteps(db: Db, sweepId: string): Promise<number[]> {
  const rows = await db
    .selectFrom('runs')
    .leftJoin('run_points', 'run_points.run_id', 'runs.id')
    .select(['runs.run_index', (eb) => eb.fn.max('run_points.step').as('step')])
    .where('runs.sweep_id', '=', sweepId)
    .groupBy('runs.run_index')
    .orderBy('runs.run_index')
    .execute();
  return rows.map((r) => Number(r.step ?? 0));
}

async function pointSteps(db: Db, sweepId: string): Promise<number[][]> {
  const rows = await db
    .selectFrom('run_points')
    .innerJoin('runs', 'runs.id', 'run_points.run_id')
    .select(['runs.run_index', 'run_points.step'])
    .where('runs.sweep_id', '=', sweepId)
    .orderBy('runs.run_index')
    .orderBy('run_points.step')
    .execute();
  const out: number[][] = [];
  for (const r of rows) (out[r.run_index] ??= []).push(r.step);
  return out;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });

describe('provenance and deploys (real processes, real servers)', { timeout: 900_000 }, () => {
  let stack: TestStack;
  const spawned: ChildProcess[] = [];
  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    for (const c of spawned) killGroup(c);
    await stack?.stop();
  });

  it('SIGTERM mid-segment: each slot commits its next eval point and exits; another build finishes; nothing lost or retrained; the run is marked mixed', async () => {
    const evalEvery = 50;
    const steps = 1000;
    const spec = tinySweep({
      name: 'drain',
      maxParallel: 2,
      // One segment would cover the whole run: only the drain can hand it over.
      segmentSteps: steps,
      heartbeatTimeout: 30,
      training: { steps, batchSize: 32, evalEvery },
      measure: { metrics: ['exact'], primary: 'exact' },
      grid: { activation: ['relu', 'silu'], size: [{ dModel: 32, nLayers: 2 }], seed: [0] },
    });
    const args = ['--task-queue', spec.taskQueue, '--slots', '2', '--no-versioning'];
    const first = spawnWorker(stack.endpoints, args, { SPARSITY_BUILD_ID: 'test-build-a' });
    spawned.push(first);
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    await until('both runs past their second eval point', async () => (await lastSteps(stack.db, sweepId)).every((s) => s >= 2 * evalEvery));

    const atSigterm = await lastSteps(stack.db, sweepId);
    const t0 = Date.now();
    process.kill(first.pid as number, 'SIGTERM');
    const code = await Promise.race([exited(first), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 120_000))]);
    assert.equal(code, 0, 'the worker exits by itself, cleanly');
    const drainSeconds = (Date.now() - t0) / 1000;
    const atExit = await lastSteps(stack.db, sweepId);
    for (let i = 0; i < atSigterm.length; i++) {
      // The step in flight at SIGTERM lies after atSigterm[i]: the slot commits the eval point
      // after it (one more if that commit was already under way), and no later one.
      assert.ok(atExit[i] > atSigterm[i], `run ${i}: the drain committed a new eval point (${atSigterm[i]} -> ${atExit[i]})`);
      assert.ok(atExit[i] <= atSigterm[i] + 2 * evalEvery, `run ${i}: at most the next eval point (${atSigterm[i]} -> ${atExit[i]})`);
      assert.ok(atExit[i] < steps, `run ${i}: drained before the end`);
    }
    const drained = (await sweepSegments(stack.db, sweepId)).filter((g) => g.buildId === 'test-build-a');
    assert.equal(drained.length, 2);
    for (const g of drained) {
      assert.equal(g.status, 'drained');
      assert.ok(g.finishedAt);
    }
    assert.deepEqual(drained.map((g) => g.reachedStep).sort(), [...atExit].sort());

    const second = spawnWorker(stack.endpoints, args, { SPARSITY_BUILD_ID: 'test-build-b' });
    spawned.push(second);
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    assert.equal(final.status, 'completed', JSON.stringify(final.runsDetail.map((r) => r.error)));
    const want = Array.from({ length: steps / evalEvery }, (_, i) => (i + 1) * evalEvery);
    assert.deepEqual(await pointSteps(stack.db, sweepId), [want, want], 'every eval point exactly once');

    // The handover lost and retrained nothing: the next segment starts where the drained one stopped.
    const segments = await sweepSegments(stack.db, sweepId);
    for (const run of new Set(segments.map((g) => g.runId))) {
      const mine = segments.filter((g) => g.runId === run);
      assert.deepEqual(mine.map((g) => g.buildId), ['test-build-a', 'test-build-b']);
      assert.equal(mine[1].fromStep, mine[0].reachedStep);
      assert.equal(mine[1].reachedStep, steps);
      assert.equal(mine[1].status, 'completed');
      for (const g of mine) {
        assert.equal(g.host, os.hostname());
        assert.equal(g.device.kind, 'cpu');
        assert.equal(g.device.host, os.hostname());
        assert.ok(g.device.tfjs.length > 0);
        assert.equal(g.backend, g.device.backend);
      }
    }

    const runs = await stack.db.selectFrom('run_overview').selectAll().where('sweep_id', '=', sweepId).orderBy('run_index').execute();
    for (const r of runs) {
      assert.equal(r.build_id, 'test-build-a', 'the run names the build of its first segment');
      assert.equal(r.mixed_builds, true);
      assert.equal(r.device_kind, 'cpu');
      assert.equal(r.host, os.hostname());
      assert.equal(r.device_name, os.cpus()[0].model.trim());
    }
    const builds = await stack.db.selectFrom('builds').selectAll().where('build_id', 'in', ['test-build-a', 'test-build-b']).execute();
    assert.equal(builds.length, 2);
    for (const b of builds) {
      assert.ok(b.content_hash.match(/^[0-9a-f]{64}$/));
      assert.ok(b.dependencies['@temporalio/worker'] && b.dependencies['@tensorflow/tfjs-core'] && b.dependencies.kysely && b.dependencies.pg && b.dependencies.node);
      assert.equal(b.source === 'git', b.git_commit !== null);
    }

    const env = { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl };
    const shown = await runCli(['runs', sweepId, '--json'], env);
    assert.equal(shown.code, 0, shown.stderr);
    for (const r of JSON.parse(shown.stdout) as Array<{ mixedBuilds: boolean; buildId: string; device: { kind: string } }>) {
      assert.equal(r.mixedBuilds, true);
      assert.equal(r.buildId, 'test-build-a');
      assert.equal(r.device.kind, 'cpu');
    }
    const table = await runCli(['runs', sweepId], env);
    assert.match(table.stdout, /test-build-a \(MIXED builds\)/);
    process.stderr.write(`drain: SIGTERM to exit ${drainSeconds.toFixed(1)} s; last committed steps ${atSigterm.join(',')} -> ${atExit.join(',')} (eval every ${evalEvery})\n`);
    killGroup(second, 'SIGTERM');
    await exited(second);
  });

  it('pinned versioning: a sweep started on build A keeps training on A after build B becomes current; a new sweep runs on B', async () => {
    const taskQueue = `pinned-${Math.random().toString(36).slice(2, 8)}`;
    const long = tinySweep({
      name: 'pinned-old',
      taskQueue,
      maxParallel: 1,
      segmentSteps: 100,
      training: { steps: 500, batchSize: 32, evalEvery: 50 },
      measure: { metrics: ['exact'], primary: 'exact' },
      // One run at a time: the later runs of the old sweep start after B is current.
      grid: { activation: ['relu'], size: [{ dModel: 32, nLayers: 2 }], seed: [0, 1, 2, 3, 4, 5, 6, 7] },
    });
    const args = ['--task-queue', taskQueue, '--slots', '1'];
    const a = spawnWorker(stack.endpoints, args, { SPARSITY_BUILD_ID: 'test-pin-a' });
    spawned.push(a);
    const deploymentName = deploymentNameOf(taskQueue);
    const current = async () =>
      (await stack.client.workflowService.describeWorkerDeployment({ namespace: 'default', deploymentName }).catch(() => undefined))?.workerDeploymentInfo
        ?.routingConfig?.currentDeploymentVersion?.buildId;
    await until('build A current', async () => (await current()) === 'test-pin-a');
    // Build B's worker starts right after the old sweep: B becomes current once its slot polls
    // too (tens of seconds on a busy machine), while the old sweep still has runs to start.
    const old = await submitSweep(stack.db, stack.client, long);
    await until('the old sweep trained a point', async () => (await lastSteps(stack.db, old.sweepId))[0] >= 50);
    const b = spawnWorker(stack.endpoints, args, { SPARSITY_BUILD_ID: 'test-pin-b' });
    spawned.push(b);
    const spawnedAt = Date.now();
    await until('build B current', async () => (await current()) === 'test-pin-b', 300_000);
    const promotedAt = new Date();
    process.stderr.write(`pinned: build B current ${((promotedAt.getTime() - spawnedAt) / 1000).toFixed(1)} s after its worker started; old sweep at steps ${(await lastSteps(stack.db, old.sweepId)).join(',')}\n`);
    const fresh = await submitSweep(stack.db, stack.client, { ...long, name: 'pinned-new', grid: { ...long.grid, seed: [9] } });

    for (const id of [old.sweepId, fresh.sweepId]) {
      const s = await waitForSweep(stack.db, stack.client, id);
      assert.equal(s.status, 'completed');
    }
    const oldSegments = await sweepSegments(stack.db, old.sweepId);
    const late = oldSegments.filter((g) => g.startedAt > promotedAt);
    process.stderr.write(`pinned: ${late.length} of ${oldSegments.length} segments of the old sweep started after B became current\n`);
    assert.ok(late.length > 0, 'segments of the old sweep started after B became current');
    assert.deepEqual([...new Set(oldSegments.map((g) => g.buildId))], ['test-pin-a'], 'the old sweep never ran on B');
    assert.deepEqual([...new Set((await sweepSegments(stack.db, fresh.sweepId)).map((g) => g.buildId))], ['test-pin-b']);
    const mixed = await stack.db.selectFrom('runs').select('mixed_builds').where('sweep_id', 'in', [old.sweepId, fresh.sweepId]).execute();
    assert.ok(mixed.every((r) => r.mixed_builds === false));
    killGroup(a, 'SIGTERM');
    killGroup(b, 'SIGTERM');
    await Promise.all([exited(a), exited(b)]);
  });
});
