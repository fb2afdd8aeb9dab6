// `sparsity data prepare <sweep-file>`: the data section's files checked (as submit does), then
// checked in full (`tokens`) or tokenised into the cache (`text`) ahead of time, with a progress
// bar on stderr; stdout gets the token files and their counts.
import { statSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { checkData } from '../client/dataCheck';
import { readSweepFile } from '../client/sweepFile';
import { DTYPE_BYTES, prepareData, prepareText, TokenFile, type DataProgress } from '../engine';
import { brownTokensFile } from '../engine/data/brown';
import type { RunConfig, SweepSpec } from '../domain/spec';
import { PRUNING_DEFAULTS } from '../domain/defaults';
import type { EnginePaths } from '../engine/types';

export interface PreparedFiles {
  kind: string;
  files: { split: 'train' | 'val' | 'train+val'; path: string; tokens: number; dtype: string }[];
  vocabSize?: number;
  documents?: { train: number; val: number };
  tokenizer?: string;
  cached?: boolean;
}

/** A cli-progress bar on stderr, one per phase (hashing, tokenizing, checking ...). */
function progressBar(): { progress: DataProgress; stop(): void } {
  const bar = new cliProgress.SingleBar(
    { format: ' {bar} {percentage}% | {phase} {file} | {value}/{total} MB', stream: process.stderr, hideCursor: true, noTTYOutput: true, notTTYSchedule: 5000 },
    cliProgress.Presets.shades_classic,
  );
  let phase = '';
  return {
    progress: (p) => {
      const mb = (n: number) => Math.round(n / 1e5) / 10;
      if (p.phase !== phase) {
        if (phase) bar.stop();
        phase = p.total > 0 ? p.phase : '';
        if (p.total === 0) {
          process.stderr.write(` ${p.phase} ${p.file} ...\n`);
          return;
        }
        bar.start(mb(p.total), 0, { phase: p.phase, file: p.file });
      }
      bar.update(mb(p.done), { phase: p.phase, file: p.file });
    },
    stop: () => {
      if (phase) bar.stop();
    },
  };
}

/** Prepares the data of `spec` in `paths.cacheDir` (the same work the first training segment would do). */
export async function prepareSweepData(spec: SweepSpec, paths: EnginePaths, progress?: DataProgress): Promise<PreparedFiles> {
  const d = spec.base.data;
  const config = { ...spec.base, seed: 0, pruning: PRUNING_DEFAULTS } as RunConfig;
  if (d.kind === 'tokens') {
    await prepareData(config, paths, progress);
    const count = (file: string) => {
      const f = new TokenFile(file, d.dtype, d.vocabSize);
      f.close();
      return f.tokens;
    };
    return {
      kind: d.kind,
      vocabSize: d.vocabSize,
      files: [
        { split: 'train', path: d.train, tokens: count(d.train), dtype: d.dtype },
        { split: 'val', path: d.val, tokens: count(d.val), dtype: d.dtype },
      ],
    };
  }
  if (d.kind === 'text') {
    const p = await prepareText(d, paths.cacheDir, progress);
    return {
      kind: d.kind,
      vocabSize: p.vocabSize,
      tokenizer: p.tokenizer,
      cached: p.cached,
      documents: { train: p.trainDocuments, val: p.valDocuments },
      files: [
        { split: 'train', path: p.train, tokens: p.trainTokens, dtype: p.dtype },
        { split: 'val', path: p.val, tokens: p.valTokens, dtype: p.dtype },
      ],
    };
  }
  if (d.kind === 'brown' && spec.base.model.family === 'transformer') {
    const file = brownTokensFile(spec.base.model.vocabSize, paths.cacheDir);
    const { size } = statSync(file);
    // Brown's cache file: two uint16 words of header (the training length), then train and val.
    return { kind: d.kind, vocabSize: spec.base.model.vocabSize, files: [{ split: 'train+val', path: file, tokens: size / DTYPE_BYTES.uint16 - 2, dtype: 'uint16' }] };
  }
  return { kind: d.kind, files: [] };
}

export function registerDataCommands(
  program: Command,
  ctx: { out: (v: unknown) => void; err: (m: string) => void; paths: () => EnginePaths },
): void {
  const data = program.command('data').description('the data a sweep trains on');
  data
    .command('prepare <file>')
    .description('check the sweep file\'s data and tokenise it into the cache ahead of time (as the first run would); prints the token files')
    .option('--json', 'one line of JSON on stdout')
    .action(async (file: string, o: { json?: boolean }) => {
      const paths = ctx.paths();
      const spec = readSweepFile(file);
      await checkData(spec, file, { cacheDir: paths.cacheDir });
      const bar = progressBar();
      let result: PreparedFiles;
      try {
        result = await prepareSweepData(spec, paths, bar.progress);
      } finally {
        bar.stop();
      }
      if (o.json) {
        ctx.out(result);
        return;
      }
      if (result.files.length === 0) ctx.out(`data.kind ${result.kind}: generated while training, nothing to prepare`);
      if (result.cached !== undefined) ctx.err(result.cached ? `already in the cache ${paths.cacheDir}` : `tokenised into ${paths.cacheDir}`);
      if (result.documents) ctx.out(`documents: ${result.documents.train} train, ${result.documents.val} val (every 20th)`);
      if (result.tokenizer) ctx.out(`tokenizer: ${result.tokenizer}, vocabSize ${result.vocabSize}`);
      for (const f of result.files) ctx.out(`${f.split}\t${f.tokens} tokens\t${f.dtype}\t${f.path}`);
    });
}
