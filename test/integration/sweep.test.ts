// A small sweep end to end on a real Temporal dev server and a real PostgreSQL.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { startLocalWorkers, type LocalWorkers } from '../../stack/stack';
import { submitSweep, waitForSweep } from '../../client/sweeps';
import { runIdOf } from '../../domain/grid';
import { runCli, startTestStack, type TestStack } from '../harness';
import { tinySweep } from '../sweeps';

describe('a sweep end to end (real Temporal + Postgres)', { timeout: 600_000 }, () => {
  let stack: TestStack;
  let workers: LocalWorkers;
  const spec = tinySweep();
  let sweepId = '';

  before(async () => {
    stack = await startTestStack();
    workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: 2 });
    const submitted = await submitSweep(stack.db, stack.client, spec);
    sweepId = submitted.sweepId;
    assert.equal(submitted.runs, 4);
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    assert.equal(final.status, 'completed', JSON.stringify(final));
  });

  after(async () => {
    await workers?.stop();
    await stack?.stop();
  });

  it('completes every run and records who ran it', async () => {
    const runs = await stack.db.selectFrom('runs').selectAll().where('sweep_id', '=', sweepId).orderBy('run_index').execute();
    assert.equal(runs.length, 4);
    for (const r of runs) {
      assert.equal(r.status, 'completed', `${r.id}: ${r.error}`);
      assert.equal(r.steps_done, 40);
      assert.ok(r.backend && r.worker, 'backend and worker recorded');
      assert.ok(r.linear_params && r.linear_params > 0);
      assert.ok(Number.isFinite(r.final_val_loss));
      assert.equal(r.config.seed, 0);
      assert.ok(!('sweepId' in (r.config as unknown as Record<string, unknown>)), 'config holds no sweep identity');
    }
    // The same configuration gets the same key in any sweep; different configurations differ.
    assert.equal(new Set(runs.map((r) => r.run_key)).size, 4);
  });

  it('stores one point per eval step, every metric and every layer, without duplicates', async () => {
    const points = await stack.db.selectFrom('run_points').selectAll().where('run_id', '=', runIdOf(sweepId, 0)).orderBy('step').execute();
    assert.deepEqual(
      points.map((p) => p.step),
      [10, 20, 30, 40],
    );
    assert.deepEqual(
      points.map((p) => p.tokens),
      [160, 320, 480, 640],
    );
    for (const p of points) {
      assert.equal(p.metric, 'ppl-1%');
      assert.ok(p.activation_ratio !== null && p.activation_ratio > 0 && p.activation_ratio <= 1);
    }
    const metrics = await stack.db
      .selectFrom('metric_points')
      .select(['metric'])
      .where('run_id', '=', runIdOf(sweepId, 0))
      .where('step', '=', 40)
      .execute();
    assert.deepEqual(metrics.map((m) => m.metric).sort(), ['exact', 'fat-0.01', 'ppl-1%']);
    const layers = await stack.db
      .selectFrom('layer_points')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('run_id', '=', runIdOf(sweepId, 0))
      .executeTakeFirstOrThrow();
    assert.equal(Number(layers.n), 4 * 2 * 3, '4 eval points x 2 layers x 3 metrics');
    const leftovers = await stack.db.selectFrom('checkpoints').select('run_id').execute();
    assert.equal(leftovers.length, 0, 'completed runs drop their checkpoints');
    const blobs = await stack.db.selectFrom('checkpoint_blobs').select('blob_key').execute();
    assert.deepEqual(blobs, [], 'and the blobs they pointed to');
  });

  it('accounts for pruned parameters (N̄ below the dense count, final density as scheduled)', async () => {
    const rows = await stack.db.selectFrom('final_points').selectAll().where('sweep_id', '=', sweepId).orderBy('run_id').execute();
    for (const r of rows) {
      if (r.pruning === 'none') {
        assert.equal(r.avg_nonzero_params, r.linear_params);
        assert.equal(r.nonzero_params, r.linear_params);
      } else {
        assert.ok((r.avg_nonzero_params as number) < (r.linear_params as number));
        assert.equal(r.nonzero_params, Math.round((r.linear_params as number) * 0.5));
      }
    }
  });

  it('answers `status --json` and `sql --json` through the CLI', async () => {
    const env = { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl };
    const status = await runCli(['status', sweepId, '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout.trim().split('\n').pop() as string);
    assert.equal(s.status, 'completed');
    assert.deepEqual(s.runs, { total: 4, completed: 4, running: 0, failed: 0, cancelled: 0, pending: 0 });
    assert.equal(s.runsDetail.length, 4);
    assert.ok(s.runsDetail.every((r: { progress: number }) => r.progress === 1));
    // Every stored fit says what it is; 4 eval points per run cannot pin relu-logspace down, and
    // two runs per activation cannot support a Journey Matters comparison: both say why.
    const fits = s.fits as Array<{ law: string; group: string; status: string; reason: string | null }>;
    assert.ok(fits.length > 0, 'the fits are listed');
    for (const f of fits) {
      assert.ok(['ok', 'not-identified', 'degenerate', 'failed'].includes(f.status), JSON.stringify(f));
      if (f.status !== 'ok') assert.ok(f.reason && f.reason.length > 0, `a fit that is not ok gives its reason: ${JSON.stringify(f)}`);
    }
    const curves = fits.filter((f) => f.law === 'relu-logspace' || f.law === 'silu-power');
    assert.equal(curves.length, 4, 'one curve per configuration (activation × pruning), seeds pooled');
    const relu = curves.filter((f) => f.law === 'relu-logspace');
    assert.equal(relu.length, 2);
    assert.ok(relu.every((f) => f.status === 'failed' && /needs more than 4 points; got 4/.test(f.reason ?? '')), JSON.stringify(relu));
    const verdicts = fits.filter((f) => f.law === 'journey-matters' && f.group.endsWith('| verdict'));
    assert.equal(verdicts.length, 2, 'one Journey Matters comparison per activation');
    assert.ok(verdicts.every((f) => f.status === 'failed' && /2 runs: a comparison needs at least 7/.test(f.reason ?? '')), JSON.stringify(verdicts));

    const sql = await runCli(['sql', `select count(*)::int as n from run_points where run_id like '${sweepId}%'`, '--json'], env);
    assert.equal(sql.code, 0, sql.stderr);
    assert.deepEqual(JSON.parse(sql.stdout), [{ n: 16 }]);

    const write = await runCli(['sql', 'delete from run_points', '--json'], env);
    assert.equal(write.code, 2);
    assert.match(write.stderr, /read-only transaction/);
    const escape = await runCli(['sql', 'commit; delete from run_points', '--json'], env);
    assert.equal(escape.code, 2, 'a second statement cannot leave the read-only transaction');
    assert.match(escape.stderr, /one statement per call \(this query has several, separated by ";"\)/);
    // The database user may be a superuser (the embedded one is): user SQL still runs as a reader.
    const program = await runCli(['sql', "copy (select 1) to program 'true'", '--json'], env);
    assert.equal(program.code, 2);
    assert.match(program.stderr, /pg_execute_server_program/);
    const file = await runCli(['sql', "select pg_read_file('/etc/hostname')", '--json'], env);
    assert.equal(file.code, 2);
    assert.match(file.stderr, /permission denied for function pg_read_file/);
    const still = await runCli(['sql', `select count(*)::int as n from run_points where run_id like '${sweepId}%'`, '--json'], env);
    assert.deepEqual(JSON.parse(still.stdout), [{ n: 16 }]);
  });

  it('runs a Transformer on Brown text through the same path, sized from a budget', async () => {
    const t = tinySweep({
      name: 'tiny-lm',
      taskQueue: spec.taskQueue,
      model: { family: 'transformer', ffn: 'gated', ffnMult: 2, nHeads: 2, seqLen: 32, vocabSize: 300 },
      data: { kind: 'brown', valSize: 4 },
      training: { steps: 20, batchSize: 4, evalEvery: 10 },
      measure: { metrics: ['exact', 'ppl-1%'], primary: 'ppl-1%' },
      grid: { activation: ['silu'], size: [{ budget: 20000, ratio: 16 }], seed: [0] },
    });
    const { sweepId: id } = await submitSweep(stack.db, stack.client, t);
    const final = await waitForSweep(stack.db, stack.client, id);
    assert.equal(final.status, 'completed', JSON.stringify(final.runsDetail));
    const run = await stack.db.selectFrom('runs').selectAll().where('sweep_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(run.config.model.family, 'transformer');
    assert.ok(Math.abs((run.non_embedding_params as number) - 20000) / 20000 < 0.1, `non-embedding ${run.non_embedding_params}`);
    const points = await stack.db.selectFrom('run_points').selectAll().where('run_id', '=', run.id).orderBy('step').execute();
    assert.deepEqual(points.map((p) => [p.step, p.tokens]), [[10, 1280], [20, 2560]]);
    assert.ok(points.every((p) => p.val_loss > 0 && p.activation_ratio !== null));
  });

  it('refuses to train a run whose stored row no longer matches the configuration it is sent', async () => {
    // A queue no worker serves yet: the rows exist, nothing has started.
    const t = tinySweep({ name: 'tiny-key', taskQueue: `${spec.taskQueue}-key`, grid: { activation: ['relu'], size: [{ dModel: 16, nLayers: 2 }], pruning: [{ schedule: 'none' }, { schedule: 'cubic', finalSparsity: 0.5, every: 5 }], seed: [0] } });
    const { sweepId: id } = await submitSweep(stack.db, stack.client, t);
    // What a deploy that changed sizing or defaults mid-sweep would look like from the run's side.
    await stack.db.updateTable('runs').set({ run_key: 'not-this-config' }).where('id', '=', runIdOf(id, 0)).execute();
    const late = startLocalWorkers(stack.endpoints, { taskQueue: t.taskQueue, slots: 1 });
    try {
      const final = await waitForSweep(stack.db, stack.client, id);
      const [r0, r1] = final.runsDetail;
      assert.equal(r0.status, 'failed');
      assert.match(r0.error ?? '', /differs from the stored run \(run_key not-this-config\); refusing to train it/);
      assert.equal(r1.status, 'completed', 'the other run trains as usual');
      const points = await stack.db.selectFrom('run_points').select('step').where('run_id', '=', r0.runId).execute();
      assert.equal(points.length, 0, 'nothing was trained for the mismatched run');
    } finally {
      await late.stop();
    }
  });

  it('keeps workflow histories for the replay test', async () => {
    if (!process.env.UPDATE_HISTORIES) return;
    const dir = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'histories');
    // sweep.json stays frozen: it guards the grid plan of sweeps started before stored plans.
    const sweep = await stack.client.workflow.getHandle(`sweep-${sweepId}`).fetchHistory();
    writeFileSync(path.join(dir, 'sweep-stored.json'), historyToJSON(sweep));
    const run = await stack.client.workflow.getHandle(runIdOf(sweepId, 1)).fetchHistory();
    writeFileSync(path.join(dir, 'run.json'), historyToJSON(run));
  });
});
