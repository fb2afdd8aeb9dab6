// The user's own data end to end on a real Temporal dev server and a real PostgreSQL: a sweep on
// numpy-written token files (test/fixtures/tokens, nanoGPT's layout) and on a .jsonl corpus with a
// Hugging Face tokenizer.json completes; the text is tokenised once (the second sweep reuses the
// cache); bad data is refused at submit (exit 2, nothing stored) or, when only the full check on
// the worker can see it, fails the run once, naming the file, the offset and the host.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLocalWorkers, type LocalWorkers } from '../../stack/stack';
import { submitSweep, waitForSweep } from '../../client/sweeps';
import { readSweepFile } from '../../client/sweepFile';
import { runCli, startTestStack, type TestStack } from '../harness';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');

describe('datasets end to end (real Temporal + Postgres)', { timeout: 600_000 }, () => {
  let stack: TestStack;
  let workers: LocalWorkers;
  const taskQueue = `data-${Math.random().toString(36).slice(2, 8)}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparsity-datasets-'));
  const cacheDir = path.join(dir, 'cache');
  const savedCache = process.env.SPARSITY_CACHE_DIR;
  let env: NodeJS.ProcessEnv = {};

  /** A sweep file in `dir` training a tiny Transformer on `data` (YAML flow mapping). */
  const sweepFile = (name: string, data: string, extra = '') => {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(
      file,
      `name: ${name}\ntaskQueue: ${taskQueue}\nheartbeatTimeout: 120\nsegmentSteps: 10\n` +
        `model: {family: transformer, seqLen: 16, ffn: gated, ffnMult: 2}\ndata: ${data}\n` +
        `training: {steps: 20, batchSize: 4, evalEvery: 10}\nmeasure: {metrics: [exact], primary: exact}\n` +
        `grid: {activation: [relu, silu], size: [{dModel: 16, nLayers: 1, nHeads: 2}]}\n${extra}`,
    );
    return file;
  };

  before(async () => {
    fs.mkdirSync(path.join(dir, 'data'));
    for (const f of ['train.bin', 'val.bin']) fs.copyFileSync(path.join(FIXTURES, 'tokens', f), path.join(dir, 'data', f));
    fs.copyFileSync(path.join(FIXTURES, 'tokenizer', 'tokenizer.json'), path.join(dir, 'data', 'tokenizer.json'));
    const words = 'the a of sparse dense model token layer neuron active weight prune train loss scale law'.split(' ');
    const records = Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: i, text: Array.from({ length: 6 + (i % 7) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ') + '.' }));
    fs.writeFileSync(path.join(dir, 'data', 'corpus.jsonl'), `${records.join('\n')}\n`);
    // Workers (and their forked slots) take the cache from the environment, as on a real host.
    process.env.SPARSITY_CACHE_DIR = cacheDir;
    stack = await startTestStack();
    env = { TEMPORAL_ADDRESS: stack.endpoints.temporalAddress, DATABASE_URL: stack.endpoints.databaseUrl, SPARSITY_CACHE_DIR: cacheDir };
    workers = startLocalWorkers(stack.endpoints, { taskQueue, slots: 2 });
  });

  after(async () => {
    await workers?.stop();
    await stack?.stop();
    if (savedCache === undefined) delete process.env.SPARSITY_CACHE_DIR;
    else process.env.SPARSITY_CACHE_DIR = savedCache;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a sweep on numpy-written token files completes (sparsity submit --wait)', async () => {
    const file = sweepFile('tokens', '{kind: tokens, train: data/train.bin, val: data/val.bin, vocabSize: 256, valSize: 4}');
    const prepared = await runCli(['data', 'prepare', file, '--json'], env);
    assert.equal(prepared.code, 0, prepared.stderr);
    const p = JSON.parse(prepared.stdout.trim().split('\n').pop() as string) as { files: { split: string; path: string; tokens: number }[] };
    assert.deepEqual(p.files.map((f) => [f.split, f.path, f.tokens]), [['train', path.join(dir, 'data', 'train.bin'), 16000], ['val', path.join(dir, 'data', 'val.bin'), 2000]]);

    const r = await runCli(['submit', file, '--wait', '--json'], env, 300_000);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { sweepId: string; status: string };
    assert.equal(out.status, 'completed', r.stderr);
    const runs = await stack.db.selectFrom('runs').selectAll().where('sweep_id', '=', out.sweepId).execute();
    assert.equal(runs.length, 2);
    for (const run of runs) {
      assert.equal(run.status, 'completed', run.error ?? '');
      assert.equal(run.config.data.kind, 'tokens');
      assert.equal((run.config.data as { train: string }).train, path.join(dir, 'data', 'train.bin'), 'stored absolute, resolved against the sweep file');
      assert.equal(run.config.model.family === 'transformer' && run.config.model.vocabSize, 256, 'model.vocabSize taken from data.vocabSize');
      const points = await stack.db.selectFrom('run_points').select(['step', 'tokens', 'val_loss']).where('run_id', '=', run.id).orderBy('step').execute();
      assert.deepEqual(points.map((q) => [q.step, q.tokens]), [[10, 640], [20, 1280]]);
      assert.ok(points.every((q) => Number.isFinite(q.val_loss) && q.val_loss > 0), 'validation losses recorded');
    }
  });

  it('a sweep on a .jsonl corpus with a tokenizer.json completes; the second sweep reuses the cached tokens', async () => {
    const file = sweepFile('text', '{kind: text, path: data/corpus.jsonl, tokenizer: data/tokenizer.json, vocabSize: 320, valSize: 4}');
    const spec = readSweepFile(file);
    const first = await submitSweep(stack.db, stack.client, spec);
    const a = await waitForSweep(stack.db, stack.client, first.sweepId);
    assert.equal(a.status, 'completed', JSON.stringify(a.runsDetail));
    const bins = () => fs.readdirSync(cacheDir).filter((f) => /^text-.*\.bin$/.test(f));
    assert.equal(bins().length, 2, 'one train and one val file');
    const stamp = bins().map((f) => fs.statSync(path.join(cacheDir, f)).mtimeMs);

    const second = await submitSweep(stack.db, stack.client, spec);
    const b = await waitForSweep(stack.db, stack.client, second.sweepId);
    assert.equal(b.status, 'completed', JSON.stringify(b.runsDetail));
    assert.deepEqual(bins().map((f) => fs.statSync(path.join(cacheDir, f)).mtimeMs), stamp, 'the token files were not written again');
    const losses = async (sweepId: string) =>
      (await stack.db.selectFrom('run_points').innerJoin('runs', 'runs.id', 'run_points.run_id').select(['runs.run_index', 'run_points.step', 'run_points.val_loss']).where('runs.sweep_id', '=', sweepId).orderBy('runs.run_index').orderBy('run_points.step').execute()).map((q) => [q.run_index, q.step, q.val_loss]);
    assert.deepEqual(await losses(second.sweepId), await losses(first.sweepId), 'same data, same runs, same points');
  });

  it('refuses bad data at submit with exit 2, storing nothing', async () => {
    const bad = path.join(dir, 'data', 'bad.bin');
    const ids = new Uint16Array(fs.readFileSync(path.join(dir, 'data', 'train.bin')).buffer.slice(0));
    ids[100] = 300;
    fs.writeFileSync(bad, new Uint8Array(ids.buffer));
    fs.writeFileSync(path.join(dir, 'data', 'odd.bin'), Uint8Array.of(1, 2, 3));
    const before = await stack.db.selectFrom('sweeps').select('id').execute();
    const cases: [string, RegExp][] = [
      ['{kind: tokens, train: data/missing.bin, val: data/val.bin, vocabSize: 256}', /data\.train: .*missing\.bin at byte offset 0: no such file/],
      ['{kind: tokens, train: data/train.bin, val: data/odd.bin, vocabSize: 256}', /data\.val: .*odd\.bin at byte offset 3: size 3 bytes is not a multiple of 2 \(dtype uint16\)/],
      ['{kind: tokens, train: data/bad.bin, val: data/val.bin, vocabSize: 256}', /data\.train: .*bad\.bin at byte offset 200: token id 300 ≥ data\.vocabSize 256/],
      ['{kind: text, path: data/corpus.jsonl, tokenizer: data/tokenizer.json, vocabSize: 256}', /data\.vocabSize: .*tokenizer\.json has 320 ids, more than data\.vocabSize 256/],
    ];
    for (const [data, re] of cases) {
      const r = await runCli(['submit', sweepFile('bad', data)], env);
      assert.equal(r.code, 2, `${data}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    assert.equal((await stack.db.selectFrom('sweeps').select('id').execute()).length, before.length, 'nothing stored');
  });

  it('a bad token only the full check sees fails the run at once, naming the file, the offset and the host', async () => {
    // 1M tokens: the submit sample (64 windows of 4096, ~15.8k apart) misses position 10000.
    const ids = new Uint16Array(1_000_000).map((_, i) => i % 256);
    ids[10_000] = 999;
    const late = path.join(dir, 'data', 'late.bin');
    fs.writeFileSync(late, new Uint8Array(ids.buffer));
    const file = sweepFile('late', '{kind: tokens, train: data/late.bin, val: data/val.bin, vocabSize: 256, valSize: 4}');
    const r = await runCli(['submit', file, '--wait', '--json'], env, 300_000);
    assert.equal(r.code, 1, 'the sweep ran and its runs failed');
    const sweepId = (JSON.parse(r.stdout.trim().split('\n').pop() as string) as { sweepId: string }).sweepId;
    const runs = await stack.db.selectFrom('runs').selectAll().where('sweep_id', '=', sweepId).execute();
    const host = os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const run of runs) {
      assert.equal(run.status, 'failed');
      assert.match(run.error ?? '', new RegExp(`cannot read the data: ${late.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at byte offset 20000 on host ${host}: token id 999 ≥ data\\.vocabSize 256`));
      assert.equal(run.attempts, 1, 'not retried');
    }
  });
});
