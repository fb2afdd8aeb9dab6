// `kind: text`: a .txt or .jsonl corpus tokenised once (our BPE or a Hugging Face tokenizer.json)
// into cached token files keyed by content and tokenizer; every 20th document is validation.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { createTrainer, DataFileError, initBackend, loadHfTokenizer, prepareText } from '../../engine';
import { BpeTokenizer } from '../../engine/data/bpe';
import { checkData, dataProblems } from '../../client/dataCheck';
import { readSweepFile } from '../../client/sweepFile';
import { validateSweep } from '../../domain/sweepSchema';
import type { TextDataConfig } from '../../domain/spec';
import { testPaths } from '../configs';
import { assertExactResumeAcrossProcesses } from './trainHelpers';
import { microOn, sentences, tempDir } from './dataHelpers';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'tokenizer');
const dir = tempDir('sparsity-text-');
const cacheDir = path.join(dir, 'cache');
before(async () => {
  await initBackend();
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const docs = sentences(400);
const txt = path.join(dir, 'corpus.txt');
fs.writeFileSync(txt, `${docs.join('\n')}\n\n\n`);
const jsonl = path.join(dir, 'corpus.jsonl');
fs.writeFileSync(jsonl, docs.map((text, i) => JSON.stringify({ id: i, body: text })).join('\n'));
const trainDocs = docs.filter((_, i) => i % 20 !== 19);
const valDocs = docs.filter((_, i) => i % 20 === 19);

const text = (over: Partial<TextDataConfig> = {}): TextDataConfig => ({ kind: 'text', valSize: 4, path: txt, format: 'txt', field: 'text', tokenizer: 'bpe', vocabSize: 300, ...over });
const hf = (over: Partial<TextDataConfig> = {}) => text({ path: jsonl, format: 'jsonl', field: 'body', tokenizer: path.join(FIXTURE, 'tokenizer.json'), vocabSize: 320, ...over });
const readIds = (file: string) => Array.from(new Uint16Array(new Uint8Array(fs.readFileSync(file)).buffer));
const mtimes = (...files: string[]) => files.map((f) => fs.statSync(f).mtimeMs);

describe('kind text with our BPE (.txt)', () => {
  it('tokenises every 20th line into validation, the rest into training, exactly', async () => {
    const p = await prepareText(text(), cacheDir);
    assert.equal(p.cached, false);
    assert.deepEqual([p.trainDocuments, p.valDocuments], [380, 20], 'blank lines are not documents');
    assert.equal(p.dtype, 'uint16');
    const meta = JSON.parse(fs.readFileSync(p.train.replace(/\.train\.bin$/, '.json'), 'utf8')) as { merges: [number, number][] };
    const bpe = new BpeTokenizer(meta.merges);
    assert.equal(bpe.vocabSize, 300);
    assert.equal(bpe.decode(readIds(p.train)), trainDocs.map((d) => `${d}\n`).join(''));
    assert.equal(bpe.decode(readIds(p.val)), valDocs.map((d) => `${d}\n`).join(''));
    assert.equal(readIds(p.train).length, p.trainTokens);
    assert.ok(p.trainTokens < trainDocs.join('\n').length / 2, 'the merges compress the text');
  });

  it('reuses the cached token files on the second use (nothing rewritten), and through createTrainer', async () => {
    const first = await prepareText(text(), cacheDir);
    assert.equal(first.cached, true);
    const before = mtimes(first.train, first.val);
    const again = await prepareText(text(), cacheDir);
    assert.equal(again.cached, true);
    assert.deepEqual([again.train, again.val], [first.train, first.val]);
    const trainer = await createTrainer(microOn(text()), { paths: { ...testPaths, cacheDir } });
    trainer.dispose();
    assert.deepEqual(mtimes(first.train, first.val), before, 'the token files were not rewritten');
    assert.equal(fs.readdirSync(cacheDir).filter((f) => f.endsWith('.train.bin')).length, 1);
  });

  it('keys the cache by content and tokenizer: a changed corpus or vocabSize is tokenised anew', async () => {
    const base = await prepareText(text(), cacheDir);
    const other = await prepareText(text({ vocabSize: 280 }), cacheDir);
    assert.equal(other.cached, false);
    assert.notEqual(other.train, base.train);
    const copy = path.join(dir, 'copy.txt');
    fs.copyFileSync(txt, copy);
    assert.equal((await prepareText(text({ path: copy }), cacheDir)).train, base.train, 'same bytes elsewhere: same cache entry');
    fs.appendFileSync(copy, 'One more line.\n');
    const changed = await prepareText(text({ path: copy }), cacheDir);
    assert.equal(changed.cached, false);
    assert.notEqual(changed.train, base.train);
  });

  it('trains, and resumes bit-exactly across processes', async () => {
    const config = microOn(text({ vocabSize: 260 }), { activation: 'relu' });
    config.training.steps = 10;
    await assertExactResumeAcrossProcesses(config, 10, 4);
  });
});

describe('kind text with a Hugging Face tokenizer.json (.jsonl)', () => {
  it('@huggingface/tokenizers (pure JS) gives the ids the Rust library gave for the fixture', () => {
    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'reference.json'), 'utf8')) as { vocabSize: number; samples: { text: string; ids: number[] }[] };
    const tok = loadHfTokenizer(path.join(FIXTURE, 'tokenizer.json'));
    assert.equal(tok.size, ref.vocabSize);
    for (const s of ref.samples) assert.deepEqual(Array.from(tok.encode(s.text)), s.ids, s.text);
  });

  it('tokenises the records\' field, every 20th record into validation, and reuses the cache', async () => {
    const p = await prepareText(hf(), cacheDir);
    assert.equal(p.cached, false);
    assert.deepEqual([p.trainDocuments, p.valDocuments], [380, 20]);
    assert.match(p.tokenizer, /^tokenizer\.json sha256:[0-9a-f]{64}$/);
    const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(FIXTURE, 'tokenizer.json'), 'utf8')), {});
    assert.equal(tok.decode(readIds(p.val)), valDocs.map((d) => `${d}\n\n`).join(''));
    assert.equal(tok.decode(readIds(p.train)), trainDocs.map((d) => `${d}\n\n`).join(''));
    const before = mtimes(p.train, p.val);
    const again = await prepareText(hf(), cacheDir);
    assert.equal(again.cached, true);
    assert.deepEqual(mtimes(again.train, again.val), before);
  });
});

describe('kind text: the sweep file', () => {
  const sweep = (data: Record<string, unknown>, model: Record<string, unknown> = {}) =>
    validateSweep({ name: 't', heartbeatTimeout: 600, model: { family: 'transformer', seqLen: 32, ...model }, data, training: { steps: 10, evalEvery: 5 }, grid: { activation: 'relu', size: [{ dModel: 32, nLayers: 1, nHeads: 2 }] } });
  const refused = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: Error) => e.name === 'UsageError' && re.test(e.message), String(re));

  it('fills the defaults (bpe, 512 ids, field text) and gives the model the data\'s vocabSize', () => {
    const spec = sweep({ kind: 'text', path: 'c.jsonl' });
    assert.deepEqual(spec.base.data, { kind: 'text', valSize: 256, path: 'c.jsonl', format: 'jsonl', field: 'text', tokenizer: 'bpe', vocabSize: 512 });
    assert.equal(spec.base.model.family === 'transformer' && spec.base.model.vocabSize, 512);
  });

  it('refuses what cannot be right', () => {
    refused(() => sweep({ kind: 'text', path: 'c.csv' }), /data\.path: must end in \.txt or \.jsonl \(got "c\.csv"\)/);
    refused(() => sweep({ kind: 'text' }), /data\.path: the corpus \(\.txt or \.jsonl\) is required/);
    refused(() => sweep({ kind: 'text', path: 'c.txt', field: 'body' }), /data\.field: is for \.jsonl corpora/);
    refused(() => sweep({ kind: 'text', path: 'c.txt', tokenizer: 'gpt2' }), /data\.tokenizer: "bpe" or the path of a Hugging Face tokenizer\.json/);
    refused(() => sweep({ kind: 'text', path: 'c.txt', tokenizer: 't/tokenizer.json' }), /data\.vocabSize: is required with a tokenizer\.json/);
    refused(() => sweep({ kind: 'text', path: 'c.txt', vocabSize: 100 }), /data\.vocabSize: our byte-level BPE takes 256\.\.65536 ids \(got 100\)/);
    refused(() => sweep({ kind: 'text', path: 'c.txt', train: 'x.bin' }), /data\.train: is for data\.kind tokens, not "text"/);
    refused(() => sweep({ kind: 'text', path: 'c.txt', vocabSize: 1000 }, { vocabSize: 512 }), /model\.vocabSize: 512 is smaller than data\.vocabSize 1000/);
  });

  it('resolves relative paths against the sweep file\'s folder', () => {
    const sub = path.join(dir, 'sweeps');
    fs.mkdirSync(sub, { recursive: true });
    const file = path.join(sub, 's.yaml');
    fs.writeFileSync(file, `name: t\nheartbeatTimeout: 600\nmodel: {family: transformer, seqLen: 32}\ndata: {kind: text, path: ../corpus.jsonl, tokenizer: tok/tokenizer.json, vocabSize: 320}\ntraining: {steps: 10, evalEvery: 5}\ngrid: {activation: relu, size: [{dModel: 32, nLayers: 1, nHeads: 2}]}\n`);
    const d = readSweepFile(file).base.data as TextDataConfig;
    assert.equal(d.path, jsonl);
    assert.equal(d.tokenizer, path.join(sub, 'tok', 'tokenizer.json'));
  });
});

describe('kind text: bad input', () => {
  /** The sweep file's data section for a resolved config: `format` is derived, `field` only for jsonl. */
  const section = ({ format, field, ...rest }: TextDataConfig) => (format === 'jsonl' ? { ...rest, field } : rest);
  const specFor = (data: TextDataConfig, seqLen = 32) =>
    validateSweep({ name: 't', heartbeatTimeout: 600, model: { family: 'transformer', seqLen }, data: section(data), training: { steps: 10, evalEvery: 5 }, grid: { activation: 'relu', size: [{ dModel: 32, nLayers: 1, nHeads: 2 }] } });
  const atSubmit = async (data: TextDataConfig, seqLen = 32) => (await dataProblems(specFor(data, seqLen), { cacheDir })).map((p) => `${p.path}: ${p.message}`).join('\n');
  const atPrepare = async (data: TextDataConfig): Promise<DataFileError> => {
    const err = await prepareText(data, cacheDir).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DataFileError, `DataFileError expected, got ${String(err)}`);
    return err;
  };
  const write = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, body);
    return file;
  };

  it('a missing corpus', async () => {
    const data = text({ path: path.join(dir, 'none.txt') });
    assert.match(await atSubmit(data), /data\.path: .*none\.txt at byte offset 0: no such file/);
    assert.match((await atPrepare(data)).message, /none\.txt at byte offset 0 on host .*: no such file/);
  });

  it('a record without the field, and a line that is not JSON, named by line and byte offset', async () => {
    const lines = docs.slice(0, 30).map((t) => JSON.stringify({ body: t }));
    lines[3] = JSON.stringify({ text: 'wrong field' });
    const noField = text({ path: write('nofield.jsonl', lines.join('\n')), format: 'jsonl', field: 'body' });
    const offset = lines.slice(0, 3).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    assert.match(await atSubmit(noField), new RegExp(`data\\.path: .*nofield\\.jsonl at byte offset ${offset}: line 4 has no string field "body" \\(data\\.field\\)`));
    const err = await atPrepare(noField);
    assert.equal(err.offset, offset);
    lines[3] = '{"body": "unterminated';
    assert.match((await atPrepare(text({ path: write('notjson.jsonl', lines.join('\n')), format: 'jsonl', field: 'body' }))).message, new RegExp(`notjson\\.jsonl at byte offset ${offset} on host .*: line 4 is not JSON`));
  });

  it('an empty validation split: fewer than 20 documents, or validation text shorter than a window', async () => {
    const few = text({ path: write('few.txt', docs.slice(0, 19).join('\n')) });
    assert.match(await atSubmit(few), /data\.path: .*few\.txt holds 19 document\(s\): the validation split \(every 20th document\) is empty; it needs at least 20/);
    assert.match((await atPrepare(few)).message, /few\.txt at byte offset \d+ on host .*: 19 document\(s\): the validation split \(every 20th document\) is empty/);
    const shortVal = text({ path: write('shortval.txt', [...docs.slice(0, 19), 'Hi.'].join('\n')) });
    await prepareText(shortVal, cacheDir);
    assert.match(await atSubmit(shortVal, 64), /data\.path: .*shortval\.txt: the validation split holds \d+ tokens, fewer than seqLen \+ 1 = 65/);
    await assert.rejects(checkData(specFor(shortVal, 64), 'sweep.yaml', { cacheDir }), (e: Error) => e.name === 'UsageError' && /^invalid data in sweep file sweep\.yaml:/.test(e.message));
  });

  it('a tokenizer.json with more ids than data.vocabSize, and one that is no tokenizer', async () => {
    const small = hf({ vocabSize: 300 });
    assert.match(await atSubmit(small), /data\.vocabSize: .*tokenizer\.json has 320 ids, more than data\.vocabSize 300 \(set data\.vocabSize: 320\)/);
    assert.match((await atPrepare(small)).message, /tokenizer\.json at byte offset 0 on host .*: the tokenizer has 320 ids, more than data\.vocabSize 300/);
    const junk = hf({ tokenizer: write('junk.json', '{"model": 3}') });
    assert.match(await atSubmit(junk), /data\.tokenizer: .*junk\.json at byte offset 0: not a Hugging Face tokenizer\.json this library can load/);
    const notJson = hf({ tokenizer: write('broken.json', '{') });
    assert.match(await atSubmit(notJson), /data\.tokenizer: .*broken\.json at byte offset 0: not a JSON file/);
  });
});
