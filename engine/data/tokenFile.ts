// Flat binary token files (`kind: tokens`), the layout nanoGPT-style pipelines write with numpy:
// `np.array(ids, dtype=np.uint16).tofile('train.bin')`: no header, little-endian, one id per
// element. Files are never loaded whole: every window is read at its offset (fs.readSync) into a
// buffer the reader reuses, so a corpus of any size trains in the memory of one batch.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TokenDtype } from '../../domain/spec';
import type { Batch } from '../model/network';
import { hash32, STREAM } from '../prng';
import { readCacheFile, writeCacheFile } from './cache';
import { DataFileError, statReadable } from './errors';
import type { DataSource } from './source';

export const DTYPE_BYTES: Record<TokenDtype, number> = { uint16: 2, uint32: 4 };

/** What a scan reports: phase, bytes done and total (for a progress bar or a heartbeat); total 0: a phase without a measure. */
export type DataProgress = (p: { phase: string; file: string; done: number; total: number }) => void | Promise<void>;

/** Reads windows of one token file; ids are checked against `vocabSize` as they are read. */
export class TokenFile {
  /** Tokens in the file. */
  readonly tokens: number;
  private readonly fd: number;
  private readonly bytesPer: number;
  private buffer = new ArrayBuffer(0);

  constructor(
    readonly file: string,
    readonly dtype: TokenDtype,
    readonly vocabSize: number,
  ) {
    const st = statReadable(file);
    this.bytesPer = DTYPE_BYTES[dtype];
    if (st.size % this.bytesPer !== 0) {
      throw new DataFileError(file, st.size, `size ${st.size} bytes is not a multiple of ${this.bytesPer} (dtype ${dtype}): not a ${dtype} token file, or truncated`);
    }
    this.tokens = st.size / this.bytesPer;
    this.fd = fs.openSync(file, 'r');
  }

  /** Tokens [start, start + count) as a view on the reused buffer (valid until the next read). */
  read(start: number, count: number): Uint16Array | Uint32Array {
    const bytes = count * this.bytesPer;
    if (this.buffer.byteLength < bytes) this.buffer = new ArrayBuffer(bytes);
    const view = new Uint8Array(this.buffer, 0, bytes);
    const position = start * this.bytesPer;
    let got = 0;
    while (got < bytes) {
      const n = fs.readSync(this.fd, view, got, bytes - got, position + got);
      if (n === 0) throw new DataFileError(this.file, position + got, `file ended early (expected ${this.tokens} tokens): was it changed while training?`);
      got += n;
    }
    const ids = this.dtype === 'uint16' ? new Uint16Array(this.buffer, 0, count) : new Uint32Array(this.buffer, 0, count);
    for (let i = 0; i < count; i++) {
      if (ids[i] >= this.vocabSize) throw new DataFileError(this.file, position + i * this.bytesPer, `token id ${ids[i]} ≥ data.vocabSize ${this.vocabSize}`);
    }
    return ids;
  }

  /**
   * Checks every id < vocabSize, in 4 MiB chunks, awaiting `progress` between chunks (so a
   * training activity can heartbeat). Throws DataFileError at the first bad id.
   */
  async verifyAll(progress?: DataProgress): Promise<void> {
    const chunk = (4 << 20) / this.bytesPer;
    for (let start = 0; start < this.tokens; start += chunk) {
      this.read(start, Math.min(chunk, this.tokens - start));
      await progress?.({ phase: 'checking', file: this.file, done: Math.min(start + chunk, this.tokens) * this.bytesPer, total: this.tokens * this.bytesPer });
    }
    this.buffer = new ArrayBuffer(0);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

const verified = new Set<string>();

/**
 * Verifies every id of `file` once per (file, size, mtime, dtype, vocabSize): afterwards a marker
 * in `cacheDir` (and this process's memory) says so, so later segments of a run skip the scan.
 */
export async function verifyTokenFile(file: string, dtype: TokenDtype, vocabSize: number, cacheDir: string, progress?: DataProgress): Promise<void> {
  const st = statReadable(file);
  const key = createHash('sha256').update(`${path.resolve(file)}\0${st.size}\0${st.mtimeMs}\0${dtype}\0${vocabSize}`).digest('hex').slice(0, 24);
  const marker = `tokens-verified-${key}`;
  if (verified.has(key) || readCacheFile(cacheDir, marker)) {
    verified.add(key);
    return;
  }
  const reader = new TokenFile(file, dtype, vocabSize);
  try {
    await reader.verifyAll(progress);
  } finally {
    reader.close();
  }
  writeCacheFile(cacheDir, marker, `${file}\n`);
  verified.add(key);
}

/** A uniform integer in [0, span) from (seed, step, row); spans past 2^32 (corpora over 4G tokens) draw 64 bits. */
function windowStart(seed: number, step: number, row: number, span: number): number {
  const low = hash32(seed, STREAM.batch, step, row);
  if (span <= 2 ** 32) return low % span;
  const high = hash32(seed, STREAM.batchHigh, step, row);
  return Number(((BigInt(high) << 32n) | BigInt(low)) % BigInt(span));
}

/**
 * Training windows drawn from (seed, step) as for Brown: row r of step s starts at
 * hash(seed, s, r) mod (trainTokens − seqLen − 1); the validation batch is `valSize` consecutive
 * non-overlapping windows from the start of the validation file (wrapping when it holds fewer).
 */
export class TokenFileData implements DataSource {
  readonly valBatch: Batch;
  readonly tokensPerStep: number;
  private readonly train: TokenFile;
  private readonly span: number;

  constructor(
    files: { train: string; val: string; dtype: TokenDtype; vocabSize: number },
    private readonly seqLen: number,
    private readonly seed: number,
    private readonly batchSize: number,
    valSize: number,
  ) {
    const T = seqLen;
    this.tokensPerStep = batchSize * T;
    this.train = new TokenFile(files.train, files.dtype, files.vocabSize);
    this.span = this.train.tokens - T - 1;
    if (this.span < 1) {
      this.train.close();
      throw new DataFileError(files.train, 0, `holds ${this.train.tokens} tokens, fewer than seqLen + 2 = ${T + 2}: too short to train on`);
    }
    const val = new TokenFile(files.val, files.dtype, files.vocabSize);
    try {
      const windows = Math.floor((val.tokens - 1) / T);
      if (windows < 1) throw new DataFileError(files.val, 0, `holds ${val.tokens} tokens, fewer than seqLen + 1 = ${T + 1}: the validation split is empty`);
      const starts = Array.from({ length: valSize }, (_, i) => (i % windows) * T);
      this.valBatch = this.make(val, starts);
    } catch (err) {
      this.train.close();
      throw err;
    } finally {
      val.close();
    }
  }

  private make(file: TokenFile, starts: number[]): Batch {
    const T = this.seqLen;
    const inputs = new Int32Array(starts.length * T);
    const labels = new Int32Array(starts.length * T);
    starts.forEach((s, r) => {
      const w = file.read(s, T + 1);
      for (let t = 0; t < T; t++) {
        inputs[r * T + t] = w[t];
        labels[r * T + t] = w[t + 1];
      }
    });
    return { inputs: tf.tensor1d(inputs, 'int32'), labels: tf.tensor1d(labels, 'int32') };
  }

  trainBatch(step: number): Batch {
    const starts = Array.from({ length: this.batchSize }, (_, r) => windowStart(this.seed, step, r, this.span));
    return this.make(this.train, starts);
  }

  dispose(): void {
    tf.dispose([this.valBatch.inputs, this.valBatch.labels]);
    this.train.close();
  }
}
