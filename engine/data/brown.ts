// The Brown corpus as a token stream for the Transformer: BPE-encoded train and validation splits
// (cached on disk per vocabulary size), random training windows drawn from (seed, step), and a
// fixed validation batch of consecutive non-overlapping windows from the held-out documents.
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TransformerModelConfig } from '../../domain/spec';
import { hash32, STREAM } from '../prng';
import type { Batch } from '../model/network';
import { BpeTokenizer, trainBpe } from './bpe';
import { isValidationDocument, readBrownDocuments } from './brownText';
import { readCacheFile, writeCacheFile } from './cache';
import type { DataSource } from './source';

/** Bump when text extraction or tokenisation changes, so old caches are ignored. */
const CACHE_VERSION = 1;
const DOC_SEPARATOR = '\n\n';

export interface BrownTokens {
  tokenizer: BpeTokenizer;
  train: Uint16Array;
  val: Uint16Array;
}

const cacheName = (vocabSize: number): string => `brown-bpe-v${CACHE_VERSION}-${vocabSize}`;

const memo = new Map<number, BrownTokens>();

function buildTokens(vocabSize: number): BrownTokens {
  const docs = readBrownDocuments();
  const train = docs.filter((_, i) => !isValidationDocument(i)).map((d) => d.text).join(DOC_SEPARATOR);
  const val = docs.filter((_, i) => isValidationDocument(i)).map((d) => d.text).join(DOC_SEPARATOR);
  // The tokenizer is trained on the training split only: validation text stays unseen.
  const tokenizer = new BpeTokenizer(trainBpe(train, vocabSize));
  return { tokenizer, train: Uint16Array.from(tokenizer.encode(train)), val: Uint16Array.from(tokenizer.encode(val)) };
}

/** The tokenised corpus for `vocabSize`, from memory, the disk cache, or built (a few seconds). */
export function brownTokens(vocabSize: number, cacheDir: string): BrownTokens {
  const hit = memo.get(vocabSize);
  if (hit) return hit;
  const name = cacheName(vocabSize);
  const mergesFile = readCacheFile(cacheDir, `${name}.json`);
  const tokensFile = readCacheFile(cacheDir, `${name}.tokens`);
  let result: BrownTokens;
  if (mergesFile && tokensFile) {
    const merges = JSON.parse(mergesFile.toString('utf8')) as [number, number][];
    const all = new Uint16Array(tokensFile.buffer.slice(tokensFile.byteOffset, tokensFile.byteOffset + tokensFile.byteLength));
    const trainLen = all[0] + all[1] * 65536;
    result = { tokenizer: new BpeTokenizer(merges), train: all.slice(2, 2 + trainLen), val: all.slice(2 + trainLen) };
  } else {
    result = buildTokens(vocabSize);
    const all = new Uint16Array(2 + result.train.length + result.val.length);
    all[0] = result.train.length % 65536;
    all[1] = Math.floor(result.train.length / 65536);
    all.set(result.train, 2);
    all.set(result.val, 2 + result.train.length);
    writeCacheFile(cacheDir, `${name}.json`, JSON.stringify(result.tokenizer.merges));
    writeCacheFile(cacheDir, `${name}.tokens`, new Uint8Array(all.buffer));
  }
  memo.set(vocabSize, result);
  return result;
}

/** Path of the cached token file for `vocabSize` (built if missing): two uint16 words holding the
 *  training length (low, high), then the training tokens, then the validation tokens. */
export function brownTokensFile(vocabSize: number, cacheDir: string): string {
  brownTokens(vocabSize, cacheDir);
  return path.join(cacheDir, `${cacheName(vocabSize)}.tokens`);
}

/** Non-overlapping validation windows of `seqLen` tokens the held-out documents hold. */
export function availableValidationWindows(vocabSize: number, seqLen: number, cacheDir: string): number {
  return Math.floor((brownTokens(vocabSize, cacheDir).val.length - 1) / seqLen);
}

export class BrownData implements DataSource {
  readonly valBatch: Batch;
  readonly tokensPerStep: number;
  private readonly corpus: BrownTokens;

  constructor(
    private readonly model: TransformerModelConfig,
    private readonly seed: number,
    private readonly batchSize: number,
    valSize: number,
    cacheDir: string,
  ) {
    this.corpus = brownTokens(model.vocabSize, cacheDir);
    this.tokensPerStep = batchSize * model.seqLen;
    const T = model.seqLen;
    const windows = Math.floor((this.corpus.val.length - 1) / T);
    if (windows < 1) throw new Error(`data.valSize: validation split too short for seqLen ${T}`);
    // Consecutive windows; if valSize asks for more than the split holds, wrap around (repeats).
    const starts = Array.from({ length: valSize }, (_, i) => (i % windows) * T);
    this.valBatch = this.make(this.corpus.val, starts);
  }

  private make(tokens: Uint16Array, starts: number[]): Batch {
    const T = this.model.seqLen;
    const inputs = new Int32Array(starts.length * T);
    const labels = new Int32Array(starts.length * T);
    starts.forEach((s, r) => {
      for (let t = 0; t < T; t++) {
        inputs[r * T + t] = tokens[s + t];
        labels[r * T + t] = tokens[s + t + 1];
      }
    });
    return { inputs: tf.tensor1d(inputs, 'int32'), labels: tf.tensor1d(labels, 'int32') };
  }

  trainBatch(step: number): Batch {
    const span = this.corpus.train.length - this.model.seqLen - 1;
    const starts = Array.from({ length: this.batchSize }, (_, r) => hash32(this.seed, STREAM.batch, step, r) % span);
    return this.make(this.corpus.train, starts);
  }

  dispose(): void {
    tf.dispose([this.valBatch.inputs, this.valBatch.labels]);
  }
}

export function loadBrownData(model: TransformerModelConfig, seed: number, batchSize: number, valSize: number, cacheDir: string): DataSource {
  return new BrownData(model, seed, batchSize, valSize, cacheDir);
}
