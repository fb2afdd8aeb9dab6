// Token-budget ladders end to end (real Temporal + Postgres): a three-budget WSD ladder stores,
// bit for bit, the points of the same three runs trained from scratch, and trains fewer steps.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startLocalWorkers, type LocalWorkers } from '../../stack/stack';
import { submitSweep, sweepStatus, waitForSweep } from '../../client/sweeps';
import { planLadders } from '../../domain/ladder';
import { runCli, startTestStack, type TestStack } from '../harness';
import { tinySweep } from '../sweeps';

// Steps 40/60/80 with decay 0.25: decays start at 30, 45 and 60; evalEvery 5 makes 30 and 45 eval points.
const ladderSweep = (name: string, taskQueue: string, ladder: boolean) =>
  tinySweep({
    name,
    taskQueue,
    maxParallel: 3,
    ladder,
    optim: { lr: 0.01, schedule: 'wsd', warmupSteps: 4, decay: 0.25 },
    training: { steps: 80, batchSize: 16, evalEvery: 5 },
    grid: { activation: ['relu'], size: [{ dModel: 16, nLayers: 2 }], pruning: [{ schedule: 'none' }], steps: [40, 60, 80], seed: [0] },
  });

describe('token-budget ladders (real Temporal + Postgres)', { timeout: 600_000 }, () => {
  let stack: TestStack;
  let workers: LocalWorkers;
  const queue = `test-${Math.random().toString(36).slice(2, 8)}`;
  const laddered = ladderSweep('ladder', queue, true);
  const scratch = ladderSweep('scratch', queue, false);
  let ladderId = '';
  let scratchId = '';

  before(async () => {
    stack = await startTestStack();
    workers = startLocalWorkers(stack.endpoints, { taskQueue: queue, slots: 2 });
    ladderId = (await submitSweep(stack.db, stack.client, laddered)).sweepId;
    scratchId = (await submitSweep(stack.db, stack.client, scratch)).sweepId;
    const finals = await Promise.all([ladderId, scratchId].map((id) => waitForSweep(stack.db, stack.client, id)));
    for (const f of finals) assert.equal(f.status, 'completed', JSON.stringify(f));
  });

  after(async () => {
    await workers?.stop();
    await stack?.stop();
  });

  const runsOf = (sweepId: string) => stack.db.selectFrom('runs').selectAll().where('sweep_id', '=', sweepId).orderBy('run_index').execute();

  it('plans one trunk and two branches, and only when ladders are on', () => {
    assert.deepEqual(planLadders(laddered).map((r) => r.role), ['trunk', 'branch', 'branch']);
    assert.deepEqual(planLadders(scratch).map((r) => r.role), ['single', 'single', 'single']);
  });

  it('branches the 60- and 40-step runs from the 80-step trunk at their decay starts', async () => {
    const runs = await runsOf(ladderId);
    const by = new Map(runs.map((r) => [r.steps_total, r]));
    assert.equal(by.get(80)!.branch_of, null);
    assert.equal(by.get(60)!.branch_of, by.get(80)!.id);
    assert.equal(by.get(60)!.branch_step, 45);
    assert.equal(by.get(40)!.branch_of, by.get(80)!.id);
    assert.equal(by.get(40)!.branch_step, 30);
    for (const r of runs) assert.equal(r.status, 'completed', `${r.id}: ${r.error}`);
    assert.ok((await runsOf(scratchId)).every((r) => r.branch_of === null && r.branch_step === null));
  });

  it('stores every point of a branched run exactly as the same run trained from scratch', async () => {
    const ladderRuns = await runsOf(ladderId);
    const scratchRuns = new Map((await runsOf(scratchId)).map((r) => [r.run_key, r]));
    assert.equal(ladderRuns.length, 3);
    for (const run of ladderRuns) {
      const twin = scratchRuns.get(run.run_key);
      assert.ok(twin, `a from-scratch twin of ${run.label}`);
      const points = (id: string) =>
        stack.db
          .selectFrom('run_points')
          .select(['step', 'tokens', 'train_loss', 'val_loss', 'activation_ratio', 'metric', 'dead_ratio', 'nonzero_params', 'lr'])
          .where('run_id', '=', id)
          .orderBy('step')
          .execute();
      const metrics = (id: string) =>
        stack.db.selectFrom('metric_points').select(['step', 'metric', 'activation_ratio', 'detail']).where('run_id', '=', id).orderBy('step').orderBy('metric').execute();
      const layers = (id: string) =>
        stack.db
          .selectFrom('layer_points')
          .select(['step', 'layer', 'metric', 'activation_ratio'])
          .where('run_id', '=', id)
          .orderBy('step')
          .orderBy('layer')
          .orderBy('metric')
          .execute();
      const [p, q] = await Promise.all([points(run.id), points(twin.id)]);
      assert.equal(p.length, run.steps_total / 5, `${run.label}: one point per eval step`);
      // deepStrictEqual on doubles: Object.is per value, so equal bit for bit (NaN and -0 included).
      assert.deepStrictEqual(p, q, `${run.label}: run_points`);
      const [m, n] = await Promise.all([metrics(run.id), metrics(twin.id)]);
      assert.equal(m.length, p.length * 3);
      assert.deepStrictEqual(m, n, `${run.label}: metric_points`);
      const [l, k] = await Promise.all([layers(run.id), layers(twin.id)]);
      assert.equal(l.length, p.length * 2 * 3);
      assert.deepStrictEqual(l, k, `${run.label}: layer_points`);
      for (const col of ['final_train_loss', 'final_val_loss', 'avg_nonzero_params', 'linear_params', 'steps_done'] as const) {
        assert.ok(Object.is(run[col], twin[col]), `${run.label}: runs.${col} ${run[col]} vs ${twin[col]}`);
      }
    }
    // The decay really differs after the branch point: the 40-step run is not a prefix of the trunk.
    const trunk = ladderRuns.find((r) => r.steps_total === 80)!;
    const short = ladderRuns.find((r) => r.steps_total === 40)!;
    const lrAt = async (id: string, step: number) =>
      (await stack.db.selectFrom('run_points').select('lr').where('run_id', '=', id).where('step', '=', step).executeTakeFirstOrThrow()).lr;
    assert.equal(await lrAt(short.id, 30), await lrAt(trunk.id, 30));
    assert.ok((await lrAt(short.id, 35)) < (await lrAt(trunk.id, 35)));
  });

  it('trains fewer steps and says so in `status`', async () => {
    const saved = (await sweepStatus(stack.db, undefined, ladderId)).compute;
    assert.deepEqual(saved, { branchedRuns: 2, stepsTrained: 80 + (60 - 45) + (40 - 30), stepsFromScratch: 180, stepsReused: 0 });
    assert.deepEqual((await sweepStatus(stack.db, undefined, scratchId)).compute, { branchedRuns: 0, stepsTrained: 180, stepsFromScratch: 180, stepsReused: 0 });

    const env = { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl };
    const json = await runCli(['status', ladderId, '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout.trim().split('\n').pop() as string).compute, saved);
    const text = await runCli(['status', ladderId], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /compute: 105 steps trained here of 180 from scratch \(42% saved\); 2 runs branched from a trunk/);
    assert.match(text.stdout, /r0000@45/);
  });

  it('trains a branch from scratch when its trunk fails before the branch point', async () => {
    // A queue no worker serves yet: break the trunk's stored key so it refuses to train, then start workers.
    const late = `${queue}-late`;
    const spec = { ...ladderSweep('orphan', late, true), grid: { ...laddered.grid, steps: [80, 40] } };
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    const [trunk, branch] = await runsOf(sweepId);
    assert.equal(trunk.steps_total, 80);
    await stack.db.updateTable('runs').set({ run_key: 'not-this-config' }).where('id', '=', trunk.id).execute();
    const lateWorkers = startLocalWorkers(stack.endpoints, { taskQueue: late, slots: 1 });
    try {
      const final = await waitForSweep(stack.db, stack.client, sweepId);
      assert.deepEqual(final.runsDetail.map((r) => r.status), ['failed', 'completed']);
    } finally {
      await lateWorkers.stop();
    }
    const after = (await runsOf(sweepId))[1];
    assert.equal(after.branch_of, null, 'not branched');
    assert.equal(after.steps_done, 40);
    const twin = (await runsOf(scratchId)).find((r) => r.run_key === branch.run_key)!;
    const points = (id: string) => stack.db.selectFrom('run_points').select(['step', 'train_loss', 'val_loss', 'lr']).where('run_id', '=', id).orderBy('step').execute();
    assert.deepStrictEqual(await points(after.id), await points(twin.id));
    assert.deepEqual((await sweepStatus(stack.db, undefined, sweepId)).compute, { branchedRuns: 0, stepsTrained: 40, stepsFromScratch: 40, stepsReused: 0 });
  });

  it('leaves no checkpoint behind', async () => {
    assert.equal((await stack.db.selectFrom('branch_checkpoints').select('step').execute()).length, 0);
    assert.equal((await stack.db.selectFrom('checkpoints').select('run_id').execute()).length, 0);
  });
});
