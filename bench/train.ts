// Training throughput of the reference model on our backend vs the same model in PyTorch eager CPU.
//
//   npx tsx bench/train.ts [--steps 5] [--json] [--no-torch] [--threads 2]
//
// Reference model: gated-FFN (silu) Transformer, dModel 256, 4 layers, 4 heads, ffnMult 4, seq 128,
// batch 16, vocab 4096, RoPE, tied embeddings, trained on Brown. PyTorch runs bench/torch_reference.py
// (torch 2.13.0 CPU wheel in a venv created on first use under .sparsity/, 2 threads).
// MFU = model FLOP/s ÷ the best 1024³ float32 matMul rate measured on the same engine just before;
// model FLOPs per token = 6·(linear weights + tied head d·V) + 12·L·T·d (attention scores and mixing,
// full square as in nanoGPT's estimate).
import { enginePaths, projectRoot } from '../stack/paths';
import type { BackendName } from '../engine/types';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { countParams, createTrainer, initBackend } from '../engine';
import { brownTokensFile } from '../engine/data/brown';
import { trainFlopsPerToken } from '../domain/sizing';
import type { RunConfig, TransformerModelConfig } from '../domain/spec';

export const REFERENCE_MODEL: TransformerModelConfig = {
  family: 'transformer', activation: 'silu', topK: null, dModel: 256, nLayers: 4, nHeads: 4, ffnMult: 4, ffn: 'gated',
  positions: 'rotary', tiedEmbeddings: true, seqLen: 128, vocabSize: 4096,
};
export const REFERENCE_BATCH = 16;

export interface EngineFigures {
  tokensPerSec: number;
  secondsPerStep: number;
  /** Best 1024³ matMul GFLOP/s on this engine. */
  peakGflops: number;
  /** Model FLOPs utilisation against `machinePeakGflops` (the same yardstick for both engines). */
  mfu: number;
}

export interface BenchTrainResult {
  model: TransformerModelConfig & { batchSize: number; params: number; flopsPerToken: number };
  /** The better of the two engines' matmul peaks: what this machine reaches. */
  machinePeakGflops: number;
  ours: EngineFigures & { backend: string; threads: number; rssMiB: number };
  pytorch: (EngineFigures & { threads: number; version: string }) | null;
  /** ours / pytorch tokens per second; null when PyTorch could not run. */
  ratio: number | null;
  pytorchError?: string;
}


function referenceConfig(steps: number): RunConfig {
  return {
    model: REFERENCE_MODEL,
    data: { kind: 'brown', valSize: 8 },
    optim: { lr: 3e-4, schedule: 'cosine', warmup: 0.1, decay: 0.2, minLrRatio: 0.1, weightDecay: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, gradClip: 1 },
    training: { steps: steps + 2, batchSize: REFERENCE_BATCH, evalEvery: steps + 2 },
    pruning: { schedule: 'none', start: 0, end: 1, initialSparsity: 0, finalSparsity: 0, every: 1, scope: 'global' },
    measure: { metrics: ['exact'], primary: 'exact' },
    seed: 0,
  };
}

function ourMatmulPeak(): number {
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  let best = 0;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    if (i > 0) best = Math.max(best, (2 * 1024 ** 3) / ((performance.now() - t) / 1000) / 1e9);
  }
  tf.dispose([a, b]);
  return best;
}

/** The bench's own venv (torch 2.13.0 CPU + numpy), created on first use. */
function torchPython(): string {
  const venv = path.join(path.dirname(enginePaths().cacheDir), 'venv-torch-bench');
  const python = path.join(venv, 'bin', 'python');
  if (!fs.existsSync(python)) {
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '-q', 'torch==2.13.0', 'numpy'], { stdio: 'inherit' });
  }
  return python;
}

function runTorch(steps: number, flopsTok: number): EngineFigures & { threads: number; version: string } {
  const m = REFERENCE_MODEL;
  const out = execFileSync(
    torchPython(),
    [
      path.join(projectRoot(), 'bench', 'torch_reference.py'), '--tokens', brownTokensFile(m.vocabSize, enginePaths().cacheDir), '--steps', String(steps),
      '--d', String(m.dModel), '--layers', String(m.nLayers), '--heads', String(m.nHeads), '--ffn-mult', String(m.ffnMult),
      '--seq', String(m.seqLen), '--batch', String(REFERENCE_BATCH), '--vocab', String(m.vocabSize), '--activation', m.activation, '--threads', '2',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const r = JSON.parse(out.trim().split('\n').pop()!) as { tokensPerSec: number; secondsPerStep: number; peakGflops: number; threads: number; torch: string };
  return {
    tokensPerSec: r.tokensPerSec, secondsPerStep: r.secondsPerStep, peakGflops: r.peakGflops,
    mfu: (r.tokensPerSec * flopsTok) / (r.peakGflops * 1e9), threads: r.threads, version: r.torch,
  };
}

export async function benchTrain(opts: { steps?: number; json?: boolean; torch?: boolean; threads?: number; backend?: BackendName } = {}): Promise<BenchTrainResult> {
  const steps = opts.steps ?? 5;
  // PyTorch gets 2 threads; so do we (the second microbatch runs in a worker thread, see shards.ts).
  const threads = opts.threads ?? 2;
  process.env.SPARSITY_TRAIN_THREADS = String(threads);
  const log = (msg: string) => {
    if (!opts.json) process.stderr.write(`${msg}\n`);
  };
  const paths = enginePaths();
  const backend = await initBackend(opts.backend, paths.nativeCandidates);
  const flopsTok = trainFlopsPerToken(REFERENCE_MODEL);
  const trainer = await createTrainer(referenceConfig(steps), { paths, backend });
  log(`ours (${backend}): warming up…`);
  await trainer.trainStep();
  await trainer.trainStep();
  const started = performance.now();
  for (let i = 0; i < steps; i++) {
    const s = await trainer.trainStep();
    log(`  step ${s.step}: loss ${s.loss.toFixed(4)}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  trainer.dispose();
  const tokensPerSec = (steps * REFERENCE_BATCH * REFERENCE_MODEL.seqLen) / seconds;
  const peak = ourMatmulPeak();
  const ours = { backend, threads, tokensPerSec, secondsPerStep: seconds / steps, peakGflops: peak, mfu: (tokensPerSec * flopsTok) / (peak * 1e9), rssMiB };
  log(`ours: ${tokensPerSec.toFixed(0)} tokens/s`);

  let pytorch: BenchTrainResult['pytorch'] = null;
  let pytorchError: string | undefined;
  if (opts.torch !== false) {
    try {
      log('pytorch: running bench/torch_reference.py…');
      pytorch = runTorch(steps, flopsTok);
      log(`pytorch: ${pytorch.tokensPerSec.toFixed(0)} tokens/s`);
    } catch (err) {
      pytorchError = err instanceof Error ? err.message : String(err);
    }
  }
  // One yardstick for both: the best matmul rate either engine reached on this machine.
  const machinePeak = Math.max(ours.peakGflops, pytorch?.peakGflops ?? 0);
  const mfu = (tokensPerSec: number) => (tokensPerSec * flopsTok) / (machinePeak * 1e9);
  return {
    model: { ...REFERENCE_MODEL, batchSize: REFERENCE_BATCH, params: countParams(REFERENCE_MODEL).total, flopsPerToken: flopsTok },
    machinePeakGflops: machinePeak,
    ours: { ...ours, mfu: mfu(ours.tokensPerSec) },
    pytorch: pytorch ? { ...pytorch, mfu: mfu(pytorch.tokensPerSec) } : null,
    ratio: pytorch ? ours.tokensPerSec / pytorch.tokensPerSec : null,
    ...(pytorchError ? { pytorchError } : {}),
  };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--steps');
  const steps = at >= 0 ? Number(args[at + 1]) : undefined;
  const json = args.includes('--json');
  const th = args.indexOf('--threads');
  benchTrain({ steps, json, torch: !args.includes('--no-torch'), threads: th >= 0 ? Number(args[th + 1]) : undefined })
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r, null, json ? 0 : 2)}\n`);
    })
    .catch((err) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
