// A text corpus (`kind: text`) tokenised once into flat token files in the cache, which the
// training then reads exactly like `kind: tokens` (engine/data/tokenFile.ts).
//
// Documents: a `.txt` corpus has one per non-empty line; a `.jsonl` corpus one per record (its
// `field`, a string). Every 20th document (index 19, 39, ...) is the validation split, the rule
// Brown uses (brownText.ts isValidationDocument). Each document is tokenised with its separator
// ("\n" after a line, "\n\n" after a record) and the results are concatenated.
//
// Cache: `text-<key>.{train,val}.bin` + `text-<key>.json` (written last: its presence means the
// pair is complete), where key = sha256 of (the corpus' content hash, format, field, tokenizer:
// `bpe` + vocabSize + CACHE_VERSION, or the sha256 of the tokenizer.json). The content hash is
// remembered per (path, size, mtime) so a later use does not re-read the corpus to find its key.
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import type { TextDataConfig, TokenDtype } from '../../domain/spec';
import { canonicalJson } from '../../domain/hash';
import { BpeTokenizer, trainBpe } from './bpe';
import { isValidationDocument } from './brownText';
import { readCacheFile, writeCacheFile } from './cache';
import { DataFileError, statReadable } from './errors';
import type { DataProgress } from './tokenFile';

/** Bump when document splitting or tokenisation changes, so old caches are ignored. */
const CACHE_VERSION = 1;
/** Our BPE learns its merges from at most this much of the training split (characters): trainBpe holds it all in memory. */
export const BPE_TRAIN_MAX_CHARS = 32_000_000;
const READ_CHUNK = 1 << 20;

export interface PreparedText {
  train: string;
  val: string;
  dtype: TokenDtype;
  vocabSize: number;
  trainTokens: number;
  valTokens: number;
  trainDocuments: number;
  valDocuments: number;
  /** The tokenizer as the cache key names it: `bpe-<vocabSize>` or `tokenizer.json sha256:<hex>`. */
  tokenizer: string;
  /** True when the token files were already in the cache (nothing was tokenised). */
  cached: boolean;
}

export interface TextDocument {
  text: string;
  /** Index among documents (not lines). */
  index: number;
  /** Byte offset of the document's line in the corpus. */
  offset: number;
  line: number;
}

/**
 * The corpus' documents in order, read in 1 MiB chunks (never the whole file); `onBytes` sees
 * every chunk (for hashing and progress). A bad jsonl line throws DataFileError with its offset.
 */
export async function* readDocuments(file: string, format: 'txt' | 'jsonl', field: string, onBytes: (chunk: Buffer, done: number) => Promise<void>): AsyncGenerator<TextDocument> {
  statReadable(file);
  const handle = await fs.promises.open(file, 'r');
  try {
    let carry = Buffer.alloc(0);
    let carryOffset = 0;
    let read = 0;
    let line = 0;
    let index = 0;
    const parse = (bytes: Buffer, offset: number): TextDocument | null => {
      line++;
      const raw = bytes.toString('utf8').replace(/\r$/, '');
      if (raw.trim() === '') return null;
      if (format === 'txt') return { text: raw, index: index++, offset, line };
      let record: unknown;
      try {
        record = JSON.parse(raw);
      } catch (err) {
        throw new DataFileError(file, offset, `line ${line} is not JSON: ${(err as Error).message}`);
      }
      const value = record !== null && typeof record === 'object' ? (record as Record<string, unknown>)[field] : undefined;
      if (typeof value !== 'string') {
        throw new DataFileError(file, offset, `line ${line} has no string field "${field}" (data.field) (got ${JSON.stringify(value)?.slice(0, 40) ?? 'undefined'})`);
      }
      return { text: value, index: index++, offset, line };
    };
    for (;;) {
      const chunk = Buffer.allocUnsafe(READ_CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK, read);
      if (bytesRead === 0) break;
      const data = chunk.subarray(0, bytesRead);
      read += bytesRead;
      await onBytes(data, read);
      let buf = carry.length ? Buffer.concat([carry, data]) : data;
      let base = carryOffset;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        const doc = parse(buf.subarray(0, nl), base);
        if (doc) yield doc;
        base += nl + 1;
        buf = buf.subarray(nl + 1);
      }
      carry = Buffer.from(buf);
      carryOffset = base;
    }
    if (carry.length) {
      const doc = parse(carry, carryOffset);
      if (doc) yield doc;
    }
  } finally {
    await handle.close();
  }
}

interface Encoder {
  /** The cache key's name for it. */
  id: string;
  /** Ids it can produce: bpe's vocabSize, or the tokenizer.json's largest id + 1. */
  size: number;
  encode(text: string): ArrayLike<number>;
}

const sha256File = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The Hugging Face tokenizer in `file` (through @huggingface/tokenizers, pure JS), or DataFileError. */
export function loadHfTokenizer(file: string): Encoder {
  statReadable(file);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(file, 0, `not a JSON file: ${(err as Error).message}`);
  }
  let tok: HfTokenizer;
  try {
    tok = new HfTokenizer(json as object, {});
  } catch (err) {
    throw new DataFileError(file, 0, `not a Hugging Face tokenizer.json this library can load: ${(err as Error).message}`);
  }
  let size = 0;
  for (const id of tok.get_vocab(true).values()) size = Math.max(size, id + 1);
  return {
    id: `tokenizer.json sha256:${sha256File(file)}`,
    size,
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
  };
}

function separator(format: 'txt' | 'jsonl'): string {
  return format === 'txt' ? '\n' : '\n\n';
}

/** The content hash of the corpus, remembered in the cache per (path, size, mtime). */
function statKey(file: string): string {
  const st = statReadable(file);
  return `text-sha256-${createHash('sha256').update(`${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 24)}`;
}

function cacheKey(data: TextDataConfig, contentHash: string, tokenizerId: string): string {
  const key = canonicalJson({ v: CACHE_VERSION, content: contentHash, format: data.format, field: data.format === 'jsonl' ? data.field : null, tokenizer: tokenizerId });
  return `text-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

function tokenizerId(data: TextDataConfig): string {
  return data.tokenizer === 'bpe' ? `bpe-${data.vocabSize}` : `tokenizer.json sha256:${sha256File(data.tokenizer)}`;
}

function readPrepared(cacheDir: string, name: string): PreparedText | null {
  const meta = readCacheFile(cacheDir, `${name}.json`);
  if (!meta) return null;
  const p = JSON.parse(meta.toString('utf8')) as Omit<PreparedText, 'cached' | 'train' | 'val'>;
  const train = path.join(cacheDir, `${name}.train.bin`);
  const val = path.join(cacheDir, `${name}.val.bin`);
  if (!fs.existsSync(train) || !fs.existsSync(val)) return null;
  return { ...p, train, val, cached: true };
}

/**
 * The prepared token files of `data` if this cache already holds them (no reading of the corpus
 * beyond a stat), else null. What `buildData` uses: the async `prepareText` must have run.
 */
export function findPreparedText(data: TextDataConfig, cacheDir: string): PreparedText | null {
  const hash = readCacheFile(cacheDir, statKey(data.path));
  if (!hash) return null;
  return readPrepared(cacheDir, cacheKey(data, hash.toString('utf8').trim(), tokenizerId(data)));
}

/** Appends ids to a file through a fixed buffer. */
class TokenWriter {
  readonly fd: number;
  private readonly buf: Uint16Array | Uint32Array;
  private used = 0;
  private open = true;
  count = 0;
  constructor(
    readonly file: string,
    dtype: TokenDtype,
  ) {
    this.fd = fs.openSync(file, 'w');
    this.buf = dtype === 'uint16' ? new Uint16Array(1 << 18) : new Uint32Array(1 << 18);
  }
  push(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      if (this.used === this.buf.length) this.flush();
      this.buf[this.used++] = ids[i];
    }
    this.count += ids.length;
  }
  flush(): void {
    const bytes = new Uint8Array(this.buf.buffer, 0, this.used * this.buf.BYTES_PER_ELEMENT);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(this.fd, bytes, off);
    this.used = 0;
  }
  close(): void {
    this.flush();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.open = false;
  }
  /** Closes (if open) and removes the temporary file; a no-op after it was renamed away. */
  discard(): void {
    if (this.open) fs.closeSync(this.fd);
    this.open = false;
    fs.rmSync(this.file, { force: true });
  }
}

/**
 * Tokenises `data`'s corpus into the cache unless it is there already (then `cached: true` and
 * nothing is read but the tokenizer). `progress` is awaited after every 1 MiB read, so a training
 * activity can heartbeat and the CLI can draw a bar. Throws DataFileError for a missing or bad
 * corpus, a token id ≥ vocabSize, or an empty split.
 */
export async function prepareText(data: TextDataConfig, cacheDir: string, progress?: DataProgress): Promise<PreparedText> {
  const total = statReadable(data.path).size;
  const encoder = data.tokenizer === 'bpe' ? null : loadHfTokenizer(data.tokenizer);
  if (encoder && encoder.size > data.vocabSize) {
    throw new DataFileError(data.tokenizer, 0, `the tokenizer has ${encoder.size} ids, more than data.vocabSize ${data.vocabSize} (set data.vocabSize: ${encoder.size})`);
  }
  const tokId = encoder ? encoder.id : tokenizerId(data);
  const sKey = statKey(data.path);
  const known = readCacheFile(cacheDir, sKey)?.toString('utf8').trim();
  if (known) {
    const hit = readPrepared(cacheDir, cacheKey(data, known, tokId));
    if (hit) return hit;
  }

  // Pass 1 (only if the content hash is unknown, or our BPE must learn its merges): hash the
  // corpus and collect the training text the BPE learns from.
  let contentHash = known;
  let bpe: BpeTokenizer | null = null;
  if (!contentHash || !encoder) {
    const hash: Hash = createHash('sha256');
    const trainText: string[] = [];
    let chars = 0;
    for await (const doc of readDocuments(data.path, data.format, data.field, async (chunk, done) => {
      hash.update(chunk);
      await progress?.({ phase: encoder ? 'hashing' : 'reading', file: data.path, done, total });
    })) {
      if (!encoder && !isValidationDocument(doc.index) && chars < BPE_TRAIN_MAX_CHARS) {
        trainText.push(doc.text, separator(data.format));
        chars += doc.text.length + 1;
      }
    }
    contentHash = hash.digest('hex');
    writeCacheFile(cacheDir, sKey, contentHash);
    const hit = readPrepared(cacheDir, cacheKey(data, contentHash, tokId));
    if (hit) return hit;
    if (!encoder) {
      await progress?.({ phase: `training BPE (${data.vocabSize} ids)`, file: data.path, done: 0, total: 0 });
      bpe = new BpeTokenizer(trainBpe(trainText.join(''), data.vocabSize));
    }
  }
  const enc: Encoder = encoder ?? { id: tokId, size: data.vocabSize, encode: (t) => (bpe as BpeTokenizer).encode(t) };

  // Pass 2: tokenise into temporary files, renamed into place when complete.
  const name = cacheKey(data, contentHash, tokId);
  const dtype: TokenDtype = data.vocabSize <= 65536 ? 'uint16' : 'uint32';
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = (part: string) => path.join(cacheDir, `.${name}.${part}.${process.pid}.tmp`);
  const train = new TokenWriter(tmp('train'), dtype);
  const val = new TokenWriter(tmp('val'), dtype);
  const docs = { train: 0, val: 0 };
  try {
    for await (const doc of readDocuments(data.path, data.format, data.field, async (_, done) => {
      await progress?.({ phase: 'tokenizing', file: data.path, done, total });
    })) {
      const ids = enc.encode(doc.text + separator(data.format));
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] >= data.vocabSize) throw new DataFileError(data.path, doc.offset, `line ${doc.line}: the tokenizer gave id ${ids[i]} ≥ data.vocabSize ${data.vocabSize}`);
      }
      if (isValidationDocument(doc.index)) {
        val.push(ids);
        docs.val++;
      } else {
        train.push(ids);
        docs.train++;
      }
    }
    train.close();
    val.close();
    if (docs.val === 0) {
      throw new DataFileError(data.path, total, `${docs.train} document(s): the validation split (every 20th document) is empty; a ${data.format === 'txt' ? '.txt corpus needs one document per line' : '.jsonl corpus needs one record per line'}, at least 20`);
    }
    const prepared: PreparedText = {
      train: path.join(cacheDir, `${name}.train.bin`),
      val: path.join(cacheDir, `${name}.val.bin`),
      dtype,
      vocabSize: data.vocabSize,
      trainTokens: train.count,
      valTokens: val.count,
      trainDocuments: docs.train,
      valDocuments: docs.val,
      tokenizer: enc.id,
      cached: false,
    };
    fs.renameSync(train.file, prepared.train);
    fs.renameSync(val.file, prepared.val);
    const { cached: _c, train: _t, val: _v, ...meta } = prepared;
    writeCacheFile(cacheDir, `${name}.json`, JSON.stringify({ ...meta, corpus: data.path, merges: bpe ? bpe.merges : undefined }));
    return prepared;
  } finally {
    for (const w of [train, val]) w.discard();
  }
}

