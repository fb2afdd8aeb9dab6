// Research-scale checkpoints through the whole path: a Transformer of ≥ 25M parameters (checkpoint
// > 256 MiB, past where a Postgres bytea checkpoint used to crash a slot) trains two segments
// through Temporal with file:// and s3:// stores (a real moto server); the worker is killed between
// segments and another resumes from the store; the stored points equal an undisturbed run's. A
// corrupted blob fails the run with a message naming the run and the URI; garbage collection deletes
// an orphan and keeps a live blob.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { submitSweep, waitForSweep } from '../../client/sweeps';
import { runIdOf } from '../../domain/grid';
import { killGroup, runCli, spawnWorker, startTestStack, until, type TestStack } from '../harness';
import { startMoto, type MotoServer } from '../moto';
import { tinySweep } from '../sweeps';

const BIG = {
  model: { family: 'transformer' as const, ffn: 'gated' as const, ffnMult: 4, nHeads: 4, seqLen: 16, vocabSize: 300 },
  data: { kind: 'brown' as const, valSize: 2 },
  optim: { lr: 1e-3, schedule: 'constant' as const, warmup: 0 },
  training: { steps: 2, batchSize: 1, evalEvery: 1 },
  measure: { metrics: ['exact'], primary: 'exact' },
  // 16·448²·8 = 25.7M non-embedding weights: a 309 MB checkpoint (weights + two Adam moments).
  grid: { activation: ['relu' as const], size: [{ dModel: 448, nLayers: 8 }], seed: [0] },
  segmentSteps: 1,
  // Short, so a killed worker's segment moves on quickly; checkpoint I/O heartbeats while it runs.
  heartbeatTimeout: 30,
  maxParallel: 1,
};

describe('research-scale checkpoints (real Temporal, Postgres, file:// and moto s3://)', { timeout: 1_800_000 }, () => {
  let stack: TestStack;
  let moto: MotoServer;
  let dir: string;
  const workers: ChildProcess[] = [];
  const queue = `research-${Math.random().toString(36).slice(2, 8)}`;

  before(async () => {
    stack = await startTestStack();
    moto = await startMoto();
    // Workers (separate processes) reach moto through the standard AWS variables.
    Object.assign(process.env, moto.env);
    dir = mkdtempSync(path.join(os.tmpdir(), 'sparsity-ckpt-'));
  });
  after(async () => {
    for (const w of workers) killGroup(w);
    await moto?.stop();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const worker = () => {
    const w = spawnWorker(stack.endpoints, ['--task-queue', queue, '--slots', '1']);
    workers.push(w);
    return w;
  };
  /** Each test starts with no worker on the queue: a leftover one would pick up a segment the test means to control. */
  const stopWorkers = async () => {
    for (const w of workers.splice(0)) {
      if (w.exitCode !== null || w.signalCode !== null) continue;
      killGroup(w);
      await new Promise((r) => w.once('exit', r));
    }
  };
  const pointsOf = async (runId: string) => {
    const rows = await stack.db.selectFrom('run_points').select(['step', 'tokens', 'train_loss', 'val_loss', 'activation_ratio', 'nonzero_params']).where('run_id', '=', runId).orderBy('step').execute();
    const metrics = await stack.db.selectFrom('metric_points').select(['step', 'metric', 'activation_ratio']).where('run_id', '=', runId).orderBy('step').orderBy('metric').execute();
    return { rows, metrics };
  };
  /** Submits, waits for the first segment's commit, kills the worker (its whole process group). */
  const trainFirstSegmentThenKill = async (name: string, store: string) => {
    await stopWorkers();
    const spec = tinySweep({ ...BIG, name, taskQueue: queue, checkpointStore: store });
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    const runId = runIdOf(sweepId, 0);
    const w = worker();
    const ck = await until('the first segment commit', async () => stack.db.selectFrom('checkpoints').selectAll().where('run_id', '=', runId).executeTakeFirst(), 600_000, 200);
    await stopWorkers();
    assert.ok(w.signalCode !== null || w.exitCode !== null);
    return { sweepId, runId, ck };
  };

  let reference: Awaited<ReturnType<typeof pointsOf>>;

  it('an undisturbed run: two segments through a file:// store', async () => {
    const spec = tinySweep({ ...BIG, name: 'undisturbed', taskQueue: queue, checkpointStore: `file://${dir}/a` });
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    worker();
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    await stopWorkers();
    assert.equal(final.status, 'completed', JSON.stringify(final.runsDetail));
    const run = await stack.db.selectFrom('runs').selectAll().where('sweep_id', '=', sweepId).executeTakeFirstOrThrow();
    assert.ok((run.non_embedding_params as number) >= 25_000_000, `${run.non_embedding_params} non-embedding parameters`);
    reference = await pointsOf(run.id);
    assert.deepEqual(reference.rows.map((r) => r.step), [1, 2]);
    assert.equal(await stack.db.selectFrom('checkpoints').select('run_id').where('run_id', '=', run.id).executeTakeFirst(), undefined, 'a completed run keeps no checkpoint');
    assert.deepEqual(readdirSync(path.join(dir, 'a', run.id)).filter((f) => f.endsWith('.ckpt')), [], 'and no blob');
  });

  it('file://: a worker killed between segments; another resumes from the store; points equal the undisturbed run', async () => {
    const { sweepId, runId, ck } = await trainFirstSegmentThenKill('killed-file', `file://${dir}/b`);
    assert.ok(ck.bytes > 256 * 2 ** 20, `checkpoint of ${ck.bytes} bytes`);
    assert.match(ck.uri, new RegExp(`^file://${dir}/b/${runId.replace(/\./g, '\\.')}/`));
    // Garbage collection now: an orphan (an upload whose worker died before the commit) goes, the live blob stays.
    const orphan = path.join(dir, 'b', runId, `${'0'.repeat(64)}.orphan.ckpt`);
    writeFileSync(orphan, 'left by a worker that died between upload and commit');
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(orphan, old, old);
    utimesSync(ck.uri.slice('file://'.length), old, old);
    const gc = await runCli(['gc', '--grace', '1h', '--store', `file://${dir}/b`, '--json'], { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl });
    assert.equal(gc.code, 0, gc.stderr);
    const results = JSON.parse(gc.stdout) as { store: string; deleted: number; live: number }[];
    assert.equal(results.find((r) => r.store === `file://${dir}/b`)?.deleted, 1);
    assert.throws(() => statSync(orphan), 'the orphan is gone');
    assert.ok(statSync(ck.uri.slice('file://'.length)).size === ck.bytes, 'the live blob is kept');

    worker();
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    assert.equal(final.status, 'completed', JSON.stringify(final.runsDetail));
    assert.deepEqual(await pointsOf(runId), reference);
  });

  it('s3://: the same through an S3-compatible store (moto)', async () => {
    const { sweepId, runId, ck } = await trainFirstSegmentThenKill('killed-s3', `s3://${moto.bucket}/ckpt`);
    assert.match(ck.uri, new RegExp(`^s3://${moto.bucket}/ckpt/`));
    assert.ok(ck.bytes > 256 * 2 ** 20);
    worker();
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    assert.equal(final.status, 'completed', JSON.stringify(final.runsDetail));
    assert.deepEqual(await pointsOf(runId), reference);
  });

  it('a corrupted blob fails the run without retries, naming the run and the URI', async () => {
    const { sweepId, runId, ck } = await trainFirstSegmentThenKill('corrupt', `file://${dir}/c`);
    const attemptsBefore = (await stack.db.selectFrom('runs').select(['attempts']).where('id', '=', runId).executeTakeFirstOrThrow()).attempts;
    const file = ck.uri.slice('file://'.length);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from('not what was written'), 0, 20, 4096);
    closeSync(fd);
    worker();
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    const r = final.runsDetail[0];
    assert.equal(r.status, 'failed');
    assert.ok(r.error?.includes(runId), r.error ?? '');
    assert.ok(r.error?.includes(ck.uri), r.error ?? '');
    assert.match(r.error ?? '', /sha256/);
    const run = await stack.db.selectFrom('runs').select(['attempts']).where('id', '=', runId).executeTakeFirstOrThrow();
    assert.equal(run.attempts, attemptsBefore + 1, 'not retried: the corrupted checkpoint was read once');
  });

  it('a worker on the postgres store (the default) refuses the 309 MB checkpoint before training: one line, no point, no retry', async () => {
    await stopWorkers();
    const spec = tinySweep({ ...BIG, name: 'too-big-for-postgres', taskQueue: queue });
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    const runId = runIdOf(sweepId, 0);
    worker(); // --checkpoint-store not given: postgres
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    const r = final.runsDetail[0];
    assert.equal(r.status, 'failed');
    assert.match(r.error ?? '', new RegExp(`checkpoint of run ${runId.replace(/\./g, '\\.')} is \\d+\\.\\d MiB, above the postgres store's limit of 256\\.0 MiB: choose a file:///shared/path or s3://bucket/prefix checkpoint store .* \\(refused before training\\)`));
    assert.equal((await pointsOf(runId)).rows.length, 0, 'nothing trained, nothing stored');
    const run = await stack.db.selectFrom('runs').select(['attempts']).where('id', '=', runId).executeTakeFirstOrThrow();
    assert.equal(run.attempts, 1, 'not retried');
  });
});
