// `sparsity bench checkpoint --params N --store URI`: save and restore a checkpoint of N float32
// parameters plus two Adam moments (12 bytes a parameter) through a checkpoint store with the
// streaming codec, side by side with `cp` of a file of the same size on the same disk.
// Save and restore run in a child process of their own, so its peak RSS (getrusage maxRSS)
// counts the model state, the codec's buffers and the store's, and nothing else.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { CheckpointContents } from '../engine/checkpoint';
import { decodeCheckpointStream, encodeCheckpointStream } from '../engine/checkpointStream';
import { FileStore, openStore } from '../stores';

export interface BenchCheckpointOptions {
  /** Parameters N; the checkpoint holds params, adam.m and adam.v: 12·N bytes of float data. */
  params: number;
  /** Checkpoint store URI (file:///…, s3://…; AWS_* variables as for the workers). */
  store: string;
  /** Floats per tensor (default 4M: 16 MiB tensors, a large layer's worth). */
  tensorFloats?: number;
  log?: (m: string) => void;
}

export interface BenchCheckpointResult {
  params: number;
  store: string;
  checkpointBytes: number;
  tensors: number;
  saveSeconds: number;
  restoreSeconds: number;
  saveMBps: number;
  restoreMBps: number;
  /** `cp` of a file of checkpointBytes on the disk of the store (file://) or of os.tmpdir() (s3://). */
  cpDir: string;
  cpSeconds: number;
  cpMBps: number;
  /** cp followed by fsync of the copy: what a durable write costs on that disk (a put fsyncs). */
  cpFsyncSeconds: number;
  cpFsyncMBps: number;
  /** saveMBps / cpMBps and restoreMBps / cpMBps (goal for file://: ≥ 0.5). */
  saveVsCp: number;
  restoreVsCp: number;
  /** saveMBps / cpFsyncMBps. */
  saveVsCpFsync: number;
  /** Peak RSS of the process that built, saved and restored the checkpoint. */
  peakRssBytes: number;
  /** peakRssBytes / checkpointBytes (goal ≤ 1.3: model state + bounded buffers). */
  peakRssVsCheckpoint: number;
  /** Restored tensors re-encode to the stored blob's sha256. */
  bitExact: boolean;
}

interface ChildResult {
  checkpointBytes: number;
  tensors: number;
  saveSeconds: number;
  restoreSeconds: number;
  sha256: string;
  restoredSha256: string;
  maxRssBytes: number;
}

const MB = 1e6;

export async function benchCheckpoint(opts: BenchCheckpointOptions): Promise<BenchCheckpointResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (!Number.isInteger(opts.params) || opts.params < 1) throw new Error(`--params must be a positive integer (got ${opts.params})`);
  const probe = openStore(opts.store); // validates the URI before anything long starts
  const cpDir = probe instanceof FileStore ? probe.root : os.tmpdir();
  await probe.close();

  log(`checkpoint bench: ${opts.params} params (${((opts.params * 12) / MB).toFixed(0)} MB) through ${opts.store} ...`);
  const child = await runChild({ params: opts.params, store: opts.store, tensorFloats: opts.tensorFloats ?? 4 << 20 });

  log(`cp of ${(child.checkpointBytes / MB).toFixed(0)} MB in ${cpDir} ...`);
  const cp = measureCp(cpDir, child.checkpointBytes);
  const cpSeconds = cp.cp;

  const saveMBps = child.checkpointBytes / MB / child.saveSeconds;
  const restoreMBps = child.checkpointBytes / MB / child.restoreSeconds;
  const cpMBps = child.checkpointBytes / MB / cpSeconds;
  const round = (x: number, d = 3) => Number(x.toFixed(d));
  return {
    params: opts.params,
    store: opts.store,
    checkpointBytes: child.checkpointBytes,
    tensors: child.tensors,
    saveSeconds: round(child.saveSeconds),
    restoreSeconds: round(child.restoreSeconds),
    saveMBps: round(saveMBps, 1),
    restoreMBps: round(restoreMBps, 1),
    cpDir,
    cpSeconds: round(cpSeconds),
    cpMBps: round(cpMBps, 1),
    cpFsyncSeconds: round(cp.cpFsync),
    cpFsyncMBps: round(child.checkpointBytes / MB / cp.cpFsync, 1),
    saveVsCp: round(saveMBps / cpMBps, 2),
    restoreVsCp: round(restoreMBps / cpMBps, 2),
    saveVsCpFsync: round((saveMBps * cp.cpFsync) / (child.checkpointBytes / MB), 2),
    peakRssBytes: child.maxRssBytes,
    peakRssVsCheckpoint: round(child.maxRssBytes / child.checkpointBytes, 2),
    bitExact: child.sha256 === child.restoredSha256,
  };
}

function runChild(args: { params: number; store: string; tensorFloats: number }): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, '--expose-gc', __filename, '--child', JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`checkpoint bench child exited with code ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as ChildResult);
      } catch (err) {
        reject(new Error(`checkpoint bench child printed no result: ${(err as Error).message}`));
      }
    });
  });
}

/**
 * Seconds for `cp src dst` of `bytes` bytes in `dir`, and for `cp` then fsync of a second copy
 * (src written and fsynced first; everything removed).
 */
function measureCp(dir: string, bytes: number): { cp: number; cpFsync: number } {
  const work = mkdtempSync(path.join(dir, '.bench-cp-'));
  try {
    const src = path.join(work, 'src.bin');
    const fd = openSync(src, 'w');
    const block = Buffer.alloc(16 << 20);
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
    for (let at = 0; at < bytes; at += block.length) writeSync(fd, block, 0, Math.min(block.length, bytes - at));
    fsyncSync(fd);
    closeSync(fd);
    const t0 = process.hrtime.bigint();
    execFileSync('cp', [src, path.join(work, 'dst.bin')]);
    const cp = Number(process.hrtime.bigint() - t0) / 1e9;
    const t1 = process.hrtime.bigint();
    const dst2 = path.join(work, 'dst2.bin');
    execFileSync('cp', [src, dst2]);
    const fd2 = openSync(dst2, 'r+');
    fsyncSync(fd2);
    closeSync(fd2);
    return { cp, cpFsync: Number(process.hrtime.bigint() - t1) / 1e9 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** N params + Adam m and v as float32 tensors of at most `tensorFloats` each, deterministic values. */
function buildContents(params: number, tensorFloats: number): CheckpointContents {
  let s = 0x9e3779b9;
  const group = () => {
    const list: tf.Tensor[] = [];
    for (let left = params; left > 0; left -= tensorFloats) {
      const n = Math.min(left, tensorFloats);
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        f[i] = (s / 2 ** 32 - 0.5) * 0.04;
      }
      list.push(tf.tensor(f, [n], 'float32'));
    }
    return list;
  };
  return {
    counters: { step: 1000, tokens: 1000 * 512 * 256, nonzeroParamSteps: params * 1000, configKey: 'bench-checkpoint' },
    groups: { params: group(), 'adam.m': group(), 'adam.v': group() },
  };
}

async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of chunks) {
    h.update(c);
    bytes += c.byteLength;
  }
  return { sha256: h.digest('hex'), bytes };
}

async function child(args: { params: number; store: string; tensorFloats: number }): Promise<ChildResult> {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const store = openStore(args.store);
  const gc = (globalThis as { gc?: () => void }).gc;
  try {
    let contents: CheckpointContents | null = buildContents(args.params, args.tensorFloats);
    const tensors = Object.values(contents.groups).reduce((n, g) => n + g.length, 0);
    const t0 = process.hrtime.bigint();
    const blob = await store.put(encodeCheckpointStream(contents), { runId: 'bench-checkpoint' });
    const saveSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    // A resuming worker holds no model yet: drop this one before restoring.
    for (const g of Object.values(contents.groups)) for (const t of g) t?.dispose();
    contents = null;
    gc?.();
    const t1 = process.hrtime.bigint();
    const restored = await decodeCheckpointStream(store.get(blob));
    const restoreSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    const again = await sha256Of(encodeCheckpointStream(restored));
    await store.delete(blob.uri);
    return {
      checkpointBytes: blob.bytes,
      tensors,
      saveSeconds,
      restoreSeconds,
      sha256: blob.sha256,
      restoredSha256: again.bytes === blob.bytes ? again.sha256 : 'length differs',
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await store.close();
  }
}

if (require.main === module && process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3]) as { params: number; store: string; tensorFloats: number })
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    .catch((err) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
}
