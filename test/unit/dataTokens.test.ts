// `kind: tokens`: flat numpy-layout token files read by offset; batches a pure function of
// (seed, step); exact resume; every bad input refused with the file, the offset and the host.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer, DataFileError, initBackend } from '../../engine';
import { buildData, prepareData } from '../../engine/factory';
import { TokenFileData } from '../../engine/data/tokenFile';
import { hash32, STREAM } from '../../engine/prng';
import { dataProblems } from '../../client/dataCheck';
import { validateSweep } from '../../domain/sweepSchema';
import type { TokenFilesDataConfig } from '../../domain/spec';
import { testPaths } from '../configs';
import { assertExactResumeAcrossProcesses } from './trainHelpers';
import { microOn, syntheticTokens, tempDir, writeTokens } from './dataHelpers';

const dir = tempDir('sparsity-tokens-');
/** The engine's paths with a cache of this file's own (the full-check markers land there). */
const paths = { ...testPaths, cacheDir: path.join(dir, 'cache') };
before(async () => {
  await initBackend();
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function tokenData(name: string, dtype: 'uint16' | 'uint32', vocabSize: number, train: number[], val: number[]): TokenFilesDataConfig {
  return {
    kind: 'tokens',
    valSize: 4,
    dtype,
    vocabSize,
    train: writeTokens(path.join(dir, `${name}.train.bin`), train, dtype),
    val: writeTokens(path.join(dir, `${name}.val.bin`), val, dtype),
  };
}

const batchArrays = (d: TokenFileData, step: number) => {
  const b = d.trainBatch(step);
  const out = { inputs: Array.from(b.inputs.dataSync()), labels: Array.from(b.labels.dataSync()) };
  tf.dispose([b.inputs, b.labels]);
  return out;
};

for (const [dtype, vocabSize] of [['uint16', 300], ['uint32', 70_000]] as const) {
  describe(`kind tokens, ${dtype}`, () => {
    const trainIds = syntheticTokens(20_000, vocabSize, 11);
    const valIds = syntheticTokens(2_000, vocabSize, 12);
    const data = tokenData(dtype, dtype, vocabSize, trainIds, valIds);
    const T = 32;

    it('draws row r of step s from hash(seed, s, r) mod (tokens − seqLen − 1), the same in two instances', () => {
      const a = new TokenFileData(data, T, 5, 4, 4);
      const b = new TokenFileData(data, T, 5, 4, 4);
      for (const step of [0, 1, 17, 123_456]) {
        const x = batchArrays(a, step);
        assert.deepEqual(batchArrays(b, step), x, `step ${step} differs between instances`);
        for (let r = 0; r < 4; r++) {
          const start = hash32(5, STREAM.batch, step, r) % (trainIds.length - T - 1);
          assert.deepEqual(x.inputs.slice(r * T, (r + 1) * T), trainIds.slice(start, start + T));
          assert.deepEqual(x.labels.slice(r * T, (r + 1) * T), trainIds.slice(start + 1, start + T + 1));
        }
      }
      assert.notDeepEqual(batchArrays(a, 1), batchArrays(a, 2), 'different steps draw different windows');
      const v = Array.from(a.valBatch.inputs.dataSync());
      assert.deepEqual(v, valIds.slice(0, 4 * T), 'validation: consecutive windows from the start');
      if (dtype === 'uint32') assert.ok(Math.max(...trainIds) > 65535, 'ids above uint16 range survive');
      a.dispose();
      b.dispose();
    });

    // 70000 embedding rows make a slow model: uint32 is checked by the batches above only.
    if (dtype === 'uint16') it('trains a tiny Transformer: the loss falls on a learnable stream', async () => {
      const trainer = await createTrainer(microOn(data), { paths });
      const losses: number[] = [];
      for (let i = 0; i < 30; i++) losses.push((await trainer.trainStep()).loss);
      const head = losses.slice(0, 5).reduce((x, y) => x + y) / 5;
      const tail = losses.slice(-5).reduce((x, y) => x + y) / 5;
      assert.ok(tail < head - 0.5, `loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
      const ev = await trainer.evaluate();
      assert.ok(Number.isFinite(ev.valLoss));
      assert.equal(ev.tokens, 30 * 8 * T);
      trainer.dispose();
    });
  });
}

describe('kind tokens: resume', () => {
  it('resumes bit-exactly across processes (with pruning)', async () => {
    const data = tokenData('resume', 'uint16', 300, syntheticTokens(20_000, 300, 21), syntheticTokens(2_000, 300, 22));
    const config = microOn(data, { activation: 'silu' });
    config.pruning = { schedule: 'linear', start: 0.1, end: 0.5, initialSparsity: 0, finalSparsity: 0.5, every: 3, scope: 'global' };
    config.training.steps = 12;
    await assertExactResumeAcrossProcesses(config, 12, 5);
  });
});

describe('kind tokens: the sweep file', () => {
  const sweep = (data: Record<string, unknown>, model: Record<string, unknown> = {}) =>
    validateSweep({ name: 't', heartbeatTimeout: 600, model: { family: 'transformer', seqLen: 32, ...model }, data, training: { steps: 10, evalEvery: 5 }, grid: { activation: 'relu', size: [{ dModel: 32, nLayers: 1, nHeads: 2 }] } });
  const refused = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: Error) => e.name === 'UsageError' && re.test(e.message), String(re));

  it('takes model.vocabSize from data.vocabSize, allows a larger one, refuses a smaller one', () => {
    const files = { kind: 'tokens', train: 'a.bin', val: 'b.bin', vocabSize: 50257 };
    const spec = sweep({ ...files, dtype: 'uint16' });
    assert.equal(spec.base.model.family === 'transformer' && spec.base.model.vocabSize, 50257);
    assert.deepEqual(spec.base.data, { kind: 'tokens', valSize: 256, train: 'a.bin', val: 'b.bin', dtype: 'uint16', vocabSize: 50257 });
    const padded = sweep(files, { vocabSize: 50304 });
    assert.equal(padded.base.model.family === 'transformer' && padded.base.model.vocabSize, 50304);
    refused(() => sweep(files, { vocabSize: 512 }), /model\.vocabSize: 512 is smaller than data\.vocabSize 50257/);
  });

  it('refuses missing fields, fields of another kind, a vocabulary uint16 cannot hold, and tokens for the MLP', () => {
    refused(() => sweep({ kind: 'tokens', val: 'b.bin', vocabSize: 300 }), /data\.train: the training token file is required/);
    refused(() => sweep({ kind: 'tokens', train: 'a.bin', val: 'b.bin' }), /data\.vocabSize: is required for kind tokens/);
    refused(() => sweep({ kind: 'tokens', train: 'a.bin', val: 'b.bin', vocabSize: 300, field: 'text' }), /data\.field: is for data\.kind text, not "tokens"/);
    refused(() => sweep({ kind: 'brown', train: 'a.bin' }), /data\.train: is for data\.kind tokens, not "brown"/);
    refused(() => sweep({ kind: 'tokens', train: 'a.bin', val: 'b.bin', vocabSize: 70000 }), /70000 ids do not fit dtype uint16/);
    refused(() => sweep({ kind: 'tokens', dtype: 'int8', train: 'a.bin', val: 'b.bin', vocabSize: 300 }), /data\.dtype/);
    assert.throws(
      () => validateSweep({ name: 't', data: { kind: 'tokens', train: 'a', val: 'b', vocabSize: 300 }, training: { steps: 10, evalEvery: 5 }, grid: { activation: 'relu', size: [{ dModel: 8, nLayers: 1 }] } }),
      /data\.kind: "tokens" needs model\.family transformer \(got mlp\)/,
    );
  });
});

describe('kind tokens: bad input', () => {
  const host = os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const good = () => syntheticTokens(4_000, 300, 31);
  const specFor = (data: TokenFilesDataConfig) =>
    validateSweep({ name: 't', model: { family: 'transformer', seqLen: 32 }, data: { ...data }, training: { steps: 10, evalEvery: 5 }, grid: { activation: 'relu', size: [{ dModel: 32, nLayers: 1, nHeads: 2 }] } });
  const atSubmit = async (data: TokenFilesDataConfig) => (await dataProblems(specFor(data))).map((p) => `${p.path}: ${p.message}`).join('\n');
  const atTraining = async (data: TokenFilesDataConfig): Promise<DataFileError> => {
    const err = await createTrainer(microOn(data), { paths }).then(
      (t) => {
        t.dispose();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof DataFileError, `DataFileError expected, got ${String(err)}`);
    return err;
  };

  it('a missing file', async () => {
    const data = tokenData('missing', 'uint16', 300, good(), good());
    data.train = path.join(dir, 'nowhere.bin');
    assert.match(await atSubmit(data), new RegExp(`data\\.train: ${data.train} at byte offset 0: no such file`));
    const err = await atTraining(data);
    assert.match(err.message, new RegExp(`${data.train} at byte offset 0 on host ${host}: no such file`));
  });

  it('a size that is not a multiple of the dtype', async () => {
    const data = tokenData('odd', 'uint16', 300, good(), good());
    fs.appendFileSync(data.val, Uint8Array.of(7));
    assert.match(await atSubmit(data), /data\.val: .*odd\.val\.bin at byte offset 8001: size 8001 bytes is not a multiple of 2 \(dtype uint16\)/);
    assert.match((await atTraining(data)).message, new RegExp(`odd\\.val\\.bin at byte offset 8001 on host ${host}: size 8001 bytes is not a multiple of 2`));
    const wrongDtype = tokenData('odd32', 'uint16', 300, good(), good().slice(0, 1001));
    wrongDtype.dtype = 'uint32';
    assert.match(await atSubmit(wrongDtype), /data\.val: .*odd32\.val\.bin at byte offset 2002: size 2002 bytes is not a multiple of 4 \(dtype uint32\)/);
  });

  it('a token ≥ vocabSize: seen by the sample at submit', async () => {
    const ids = good();
    ids[1234] = 300;
    const data = tokenData('big', 'uint16', 300, ids, good());
    assert.match(await atSubmit(data), /data\.train: .*big\.train\.bin at byte offset 2468: token id 300 ≥ data\.vocabSize 300/);
  });

  it('a token ≥ vocabSize the sample misses: found by the full check on first use, naming file, offset and host', async () => {
    // 64 sample windows of 4096 tokens over 2M tokens leave gaps; position 20000 lies in the first.
    const ids = syntheticTokens(2_000_000, 300, 41);
    ids[20_000] = 4000;
    const data = tokenData('late', 'uint16', 300, ids, good());
    assert.equal(await atSubmit(data), '', 'the sample does not see it');
    const err = await atTraining(data);
    assert.equal(err.file, data.train);
    assert.equal(err.offset, 40_000);
    assert.equal(err.host, os.hostname());
    assert.match(err.message, new RegExp(`late\\.train\\.bin at byte offset 40000 on host ${host}: token id 4000 ≥ data\\.vocabSize 300`));
  });

  it('an empty validation split, and a training file shorter than a window', async () => {
    const data = tokenData('short', 'uint16', 300, good(), good().slice(0, 20));
    assert.match(await atSubmit(data), /data\.val: .*short\.val\.bin holds 20 tokens, fewer than seqLen \+ 1 = 33: the validation split is empty/);
    assert.match((await atTraining(data)).message, /short\.val\.bin at byte offset 0 on host .*: holds 20 tokens, fewer than seqLen \+ 1 = 33: the validation split is empty/);
    const empty = tokenData('empty', 'uint16', 300, [], good());
    assert.match(await atSubmit(empty), /data\.train: .*empty\.train\.bin holds 0 tokens, fewer than seqLen \+ 2 = 34: too short to train on/);
  });

  it('the full check runs once per file version (a marker in the cache), again after the file changes', async () => {
    const cacheDir = tempDir('sparsity-tokcache-');
    const data = tokenData('marker', 'uint16', 300, good(), good());
    const config = microOn(data);
    await prepareData(config, { ...testPaths, cacheDir });
    const markers = fs.readdirSync(cacheDir).filter((f) => f.startsWith('tokens-verified-'));
    assert.equal(markers.length, 2, 'train and val');
    const before = markers.map((m) => fs.statSync(path.join(cacheDir, m)).mtimeMs);
    await prepareData(config, { ...testPaths, cacheDir });
    assert.deepEqual(fs.readdirSync(cacheDir).filter((f) => f.startsWith('tokens-verified-')).map((m) => fs.statSync(path.join(cacheDir, m)).mtimeMs), before);
    const ids = good();
    ids[3999] = 999;
    writeTokens(data.train, ids, 'uint16');
    fs.utimesSync(data.train, new Date(), new Date(Date.now() + 5000));
    await assert.rejects(prepareData(config, { ...testPaths, cacheDir }), /marker\.train\.bin at byte offset 7998 .*token id 999/);
    const d = buildData(config, { ...testPaths, cacheDir });
    d.dispose();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });
});
