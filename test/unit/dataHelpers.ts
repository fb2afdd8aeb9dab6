// Shared by the data*.test.ts files: token files and corpora generated on the spot (no fixtures
// to drift), and a tiny Transformer configuration that trains on them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DataConfig, RunConfig, TransformerModelConfig } from '../../domain/spec';
import { tinyTransformerConfig } from '../configs';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A learnable token stream: a noisy cycle over `vocabSize` ids (next = prev + 1 mod V, a random
 * id 1 time in 8), from a fixed LCG so the file is the same on every run.
 */
export function syntheticTokens(count: number, vocabSize: number, seed = 1): number[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const out: number[] = [];
  let prev = 0;
  for (let i = 0; i < count; i++) {
    prev = rand() < 0.125 ? Math.floor(rand() * vocabSize) : (prev + 1) % vocabSize;
    out.push(prev);
  }
  return out;
}

/** Writes ids as numpy's `tofile` does: raw little-endian elements, no header. */
export function writeTokens(file: string, ids: number[], dtype: 'uint16' | 'uint32'): string {
  const arr = dtype === 'uint16' ? Uint16Array.from(ids) : Uint32Array.from(ids);
  fs.writeFileSync(file, new Uint8Array(arr.buffer));
  return file;
}

const WORDS = 'the a of sparse dense model token layer neuron active weight prune train loss scale law data run fast slow'.split(' ');

/** `n` sentences from a fixed word list (deterministic), one per document. */
export function sentences(n: number, seed = 3): string[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return Array.from({ length: n }, () => {
    const len = 4 + Math.floor(rand() * 10);
    const words = Array.from({ length: len }, () => WORDS[Math.floor(rand() * WORDS.length)]);
    return `${words.join(' ').replace(/^./, (c) => c.toUpperCase())}.`;
  });
}

/** A tiny Transformer (a step takes milliseconds) on `data`; model.vocabSize = data's. */
export function microOn(data: DataConfig & { vocabSize: number }, over: Partial<TransformerModelConfig> = {}): RunConfig {
  const config = tinyTransformerConfig({ training: { steps: 40, batchSize: 8, evalEvery: 20 }, data });
  config.model = { ...(config.model as TransformerModelConfig), dModel: 32, nLayers: 1, nHeads: 2, seqLen: 32, vocabSize: data.vocabSize, ...over };
  config.optim.lr = 1e-2;
  return config;
}
