// The data files a sweep names, checked where the sweep is submitted (domain validation is pure:
// file checks live here). What can be seen from the submitting host is refused with exit 2 before
// anything is stored; what only a worker can see (its own mount, the full scan) fails the run
// there, non-retryably, naming the file, the byte offset and the host.
import * as path from 'node:path';
import { UsageError } from '../domain/errors';
import type { DataConfig, SweepSpec } from '../domain/spec';
import { DataFileError, findPreparedText, isValidationDocument, loadHfTokenizer, readDocuments, TokenFile } from '../engine';

export interface DataProblem {
  /** Field path in the sweep file, e.g. `data.train`. */
  path: string;
  message: string;
}

/** Windows of the sample check: spread evenly over the file, plus its last window. */
const SAMPLE_WINDOWS = 64;
const SAMPLE_TOKENS = 4096;

/** Relative data paths are taken from the sweep file's folder and stored absolute (workers run elsewhere). */
export function resolveDataPaths<T extends { base: { data: DataConfig } }>(spec: T, baseDir: string): T {
  const d = spec.base.data;
  const abs = (p: string) => path.resolve(baseDir, p);
  if (d.kind === 'tokens') return { ...spec, base: { ...spec.base, data: { ...d, train: abs(d.train), val: abs(d.val) } } };
  if (d.kind === 'text') return { ...spec, base: { ...spec.base, data: { ...d, path: abs(d.path), tokenizer: d.tokenizer === 'bpe' ? 'bpe' : abs(d.tokenizer) } } };
  return spec;
}

function describe(err: unknown): string {
  return err instanceof DataFileError ? `${err.file} at byte offset ${err.offset}: ${err.problem}` : (err as Error).message;
}

/** Opens a token file, reads a sample of windows (every id < vocabSize), and returns its token count. */
function sampleTokenFile(file: string, dtype: 'uint16' | 'uint32', vocabSize: number): number {
  const reader = new TokenFile(file, dtype, vocabSize);
  try {
    const n = reader.tokens;
    const len = Math.min(SAMPLE_TOKENS, n);
    if (len === 0) return 0;
    const starts = new Set<number>();
    for (let i = 0; i < SAMPLE_WINDOWS; i++) starts.add(Math.floor(((n - len) * i) / Math.max(1, SAMPLE_WINDOWS - 1)));
    for (const s of starts) reader.read(s, len);
    return n;
  } finally {
    reader.close();
  }
}

/** Every problem with the sweep's data files seen from here (none for the built-in sets). */
export async function dataProblems(spec: SweepSpec, opts: { cacheDir?: string } = {}): Promise<DataProblem[]> {
  const d = spec.base.data;
  const model = spec.base.model;
  const seqLen = model.family === 'transformer' ? model.seqLen : 0;
  const problems: DataProblem[] = [];
  if (d.kind === 'tokens') {
    for (const [field, file] of [['data.train', d.train], ['data.val', d.val]] as const) {
      try {
        const n = sampleTokenFile(file, d.dtype, d.vocabSize);
        const need = field === 'data.train' ? seqLen + 2 : seqLen + 1;
        if (n < need) {
          const what = field === 'data.train' ? 'too short to train on' : 'the validation split is empty';
          problems.push({ path: field, message: `${file} holds ${n} tokens, fewer than seqLen + ${need - seqLen} = ${need}: ${what}` });
        }
      } catch (err) {
        problems.push({ path: field, message: describe(err) });
      }
    }
  } else if (d.kind === 'text') {
    if (d.tokenizer !== 'bpe') {
      try {
        const tok = loadHfTokenizer(d.tokenizer);
        if (tok.size > d.vocabSize) problems.push({ path: 'data.vocabSize', message: `${d.tokenizer} has ${tok.size} ids, more than data.vocabSize ${d.vocabSize} (set data.vocabSize: ${tok.size})` });
      } catch (err) {
        problems.push({ path: 'data.tokenizer', message: describe(err) });
      }
    }
    const prepared = opts.cacheDir ? safe(() => findPreparedText(d, opts.cacheDir as string)) : null;
    if (prepared) {
      if (prepared.valTokens < seqLen + 1) {
        problems.push({ path: 'data.path', message: `${d.path}: the validation split holds ${prepared.valTokens} tokens, fewer than seqLen + 1 = ${seqLen + 1}` });
      }
    } else {
      // Not tokenised yet: read only as far as the first validation document (the 20th).
      try {
        let documents = 0;
        let validation = false;
        for await (const doc of readDocuments(d.path, d.format, d.field, async () => undefined)) {
          documents++;
          if (isValidationDocument(doc.index)) {
            validation = true;
            break;
          }
        }
        if (!validation) {
          problems.push({ path: 'data.path', message: `${d.path} holds ${documents} document(s): the validation split (every 20th document) is empty; it needs at least 20 (${d.format === 'txt' ? 'one per non-empty line' : 'one per record'})` });
        }
      } catch (err) {
        problems.push({ path: 'data.path', message: describe(err) });
      }
    }
  }
  return problems;
}

function safe<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}

/** Throws UsageError (exit 2) listing every data problem of the sweep in `source`. */
export async function checkData(spec: SweepSpec, source: string, opts: { cacheDir?: string } = {}): Promise<void> {
  const problems = await dataProblems(spec, opts);
  if (problems.length > 0) throw new UsageError(`invalid data in sweep file ${source}:\n  ${problems.map((p) => `${p.path}: ${p.message}`).join('\n  ')}`);
}
