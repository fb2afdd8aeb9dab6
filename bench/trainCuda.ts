// `sparsity bench train --device cuda`: our tokens/s on the GPU build of the native backend against
// PyTorch CUDA eager (bench/torch_reference.py), same model, at the reference size and at a larger
// one (dModel 1024, 8 layers, 16 heads, seq 512). Each measurement is a process of its own on one
// GPU, one after another (never two on the GPU at once):
//   ours  reference, cold: CUDA_CACHE_PATH empty → the first step pays the driver's PTX JIT
//   ours  reference, warm: a second process on the same cache → what every later start pays
//   ours  large
//   torch reference (its own empty cache: cold), torch large
// MFU = model FLOP/s ÷ matmul peak; the peak (8192³ float32, ten back to back) is measured by each
// engine on the same GPU, and MFU is given against the engine's own peak and against the better
// of the two. TF32: TensorFlow uses it by default on compute capability ≥ 8.0; PyTorch's matmuls do
// not (torch.backends.cuda.matmul.allow_tf32 = False since 1.12), so by default PyTorch is set to
// match ours (`torchTf32: 'match'`) and both states are reported.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { trainFlopsPerToken } from '../domain/sizing';
import type { TransformerModelConfig } from '../domain/spec';
import { countParams } from '../domain/sizing';
import { queryNvidiaSmi } from '../engine/device';
import { brownTokensFile } from '../engine/data/brown';
import { gpuSlotEnv } from '../stack/gpuPlan';
import { enginePaths, projectRoot, sparsityHome } from '../stack/paths';
import type { EngineJob, EngineRun } from './gpuEngine';
import { runLimited } from './proc';
import { installTorchCuda, planTorchCuda, torchVenvPlan } from './torchCuda';
import { REFERENCE_BATCH, REFERENCE_MODEL } from './train';

export const LARGE_MODEL: TransformerModelConfig = { ...REFERENCE_MODEL, dModel: 1024, nLayers: 8, nHeads: 16, seqLen: 512 };
export const GPU_PEAK_SIZE = 8192;

export type Tf32Choice = 'match' | 'on' | 'off' | 'default';

interface TorchRun {
  tokensPerSec: number;
  secondsPerStep: number;
  peakGflops: number;
  peakSize: number;
  createSeconds: number;
  firstStepSeconds: number;
  torch: string;
  cuda?: string;
  cudnn?: number;
  gpuName?: string;
  tf32?: boolean;
  cudnnTf32?: boolean;
  maxMemoryAllocatedMiB?: number;
  losses: number[];
}

export interface EngineSizeFigures {
  tokensPerSec: number;
  secondsPerStep: number;
  peakGflops: number;
  /** Against this engine's own matmul peak. */
  mfuOwnPeak: number;
  /** Against the better of the two engines' peaks (one yardstick for both). */
  mfu: number;
  firstStepSeconds: number;
  tf32: boolean | null;
}

export interface SizeResult {
  model: TransformerModelConfig & { batchSize: number; params: number; flopsPerToken: number };
  ours: (EngineSizeFigures & { backend: string }) | null;
  pytorch: (EngineSizeFigures & { version: string; cuda?: string }) | null;
  /** ours / pytorch tokens per second. */
  ratio: number | null;
  errors: string[];
}

export interface BenchTrainCudaResult {
  device: 'cuda';
  gpu: number;
  gpuName: string | null;
  driver: string | null;
  steps: number;
  /** Best matmul GFLOP/s either engine reached on this GPU. */
  machinePeakGflops: number | null;
  sizes: { reference: SizeResult; large: SizeResult };
  firstStep: {
    /** Seconds for our first training step with an empty CUDA JIT cache, then with the cache the first process left. */
    /** `cacheDir`: the cache the cold run started empty (removed afterwards unless it is the state dir's own). */
    ours: { coldSeconds: number | null; warmSeconds: number | null; coldCreateSeconds: number | null; cacheDir: string };
    pytorch: { coldSeconds: number | null; largeSeconds: number | null };
  };
  tf32: { ours: boolean | null; pytorch: boolean | null; torchSetting: Tf32Choice };
  /** Our device report (describeDevice in the measuring process). */
  oursDevice: EngineRun['device'] | null;
  seconds: number;
  errors: string[];
}

export interface BenchTrainCudaOptions {
  steps?: number;
  gpu?: number;
  stateDir?: string;
  /** Python of a venv with torch CUDA; default: planned from the driver and installed on first use. null = skip PyTorch. */
  torchPython?: string | null;
  torchTf32?: Tf32Choice;
  /** Wall-clock budget for all measurements; each process gets what is left (capped per process). */
  budgetMs?: number;
  env?: NodeJS.ProcessEnv;
  log?: (m: string) => void;
  /** The cold reference run already made (by `bench gpu`'s device check) and the cache it filled. */
  coldRun?: { run: EngineRun; cacheDir: string };
}

/** A CUDA cache directory that is empty: the state dir's own when nothing has used it yet, else a fresh one beside it. */
function emptyCacheDir(stateDir: string): string {
  const own = path.join(stateDir, 'cuda-cache');
  if (!existsSync(own) || readdirSync(own).length === 0) {
    mkdirSync(own, { recursive: true });
    return own;
  }
  return mkdtempSync(path.join(stateDir, 'cuda-cache-cold-'));
}

export async function benchTrainCuda(opts: BenchTrainCudaOptions = {}): Promise<BenchTrainCudaResult> {
  const started = performance.now();
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const steps = opts.steps ?? 10;
  const gpu = opts.gpu ?? 0;
  const stateDir = opts.stateDir ?? sparsityHome(env);
  const budget = opts.budgetMs ?? 30 * 60_000;
  const left = () => budget - (performance.now() - started);
  const errors: string[] = [];
  const smi = queryNvidiaSmi(env);
  const row = smi?.gpus.find((g) => g.index === gpu) ?? null;

  const cacheDir = opts.coldRun?.cacheDir ?? emptyCacheDir(stateDir);
  const oursEnv = { ...env, SPARSITY_HOME: stateDir, ...gpuSlotEnv(gpu, stateDir), CUDA_CACHE_PATH: cacheDir };
  const engineModule = path.join(__dirname, `gpuEngine${path.extname(__filename)}`);
  const ours = async (model: TransformerModelConfig, label: string, capMs: number): Promise<EngineRun | null> => {
    const job: EngineJob = { model, batchSize: REFERENCE_BATCH, steps, peakSize: GPU_PEAK_SIZE };
    log(`ours (${label}): training ${steps} steps on GPU ${gpu}…`);
    const r = await runLimited<EngineRun>({ module: engineModule, args: [JSON.stringify(job)] }, { env: oursEnv, timeoutMs: Math.min(capMs, left()) });
    if (!r.ok) errors.push(`ours ${label}: ${r.error}`);
    else log(`ours (${label}): ${r.value!.tokensPerSec.toFixed(0)} tokens/s, first step ${r.value!.firstStepSeconds.toFixed(1)} s`);
    return r.ok ? r.value : null;
  };
  const refCold = opts.coldRun?.run ?? (await ours(REFERENCE_MODEL, 'reference, cold JIT cache', 6 * 60_000));
  const refWarm = refCold ? await ours(REFERENCE_MODEL, 'reference, warm JIT cache', 3 * 60_000) : null;
  const large = refCold ? await ours(LARGE_MODEL, 'large', 3 * 60_000) : null;
  const oursTf32 = refCold?.device.tf32 ?? null;

  let python = opts.torchPython;
  if (python === undefined) {
    try {
      const plan = torchVenvPlan(stateDir, planTorchCuda(smi, env.SPARSITY_TORCH_VERSION || undefined), env);
      const err = await installTorchCuda(plan, { env, log });
      if (err) errors.push(`pytorch install: ${err}`);
      python = err ? null : plan.python;
    } catch (e) {
      errors.push(`pytorch: ${(e as Error).message}`);
      python = null;
    }
  }
  const setting: Tf32Choice = opts.torchTf32 ?? 'match';
  const tf32Arg = setting === 'match' ? (oursTf32 === null ? 'default' : oursTf32 ? 'on' : 'off') : setting;
  const torchCache = mkdtempSync(path.join(stateDir, 'cuda-cache-torch-'));
  const torch = async (model: TransformerModelConfig, label: string): Promise<TorchRun | null> => {
    if (!python) return null;
    const tokens = brownTokensFile(model.vocabSize, enginePaths(env).cacheDir);
    log(`pytorch (${label}): training ${steps} steps on GPU ${gpu}…`);
    const args = [
      path.join(projectRoot(), 'bench', 'torch_reference.py'), '--tokens', tokens, '--steps', String(steps), '--device', 'cuda', '--tf32', tf32Arg,
      '--peak-size', String(GPU_PEAK_SIZE), '--d', String(model.dModel), '--layers', String(model.nLayers), '--heads', String(model.nHeads),
      '--ffn-mult', String(model.ffnMult), '--seq', String(model.seqLen), '--batch', String(REFERENCE_BATCH), '--vocab', String(model.vocabSize),
      '--activation', model.activation,
    ];
    const r = await runLimited<TorchRun>({ cmd: python, args }, { env: { ...env, CUDA_VISIBLE_DEVICES: String(gpu), CUDA_CACHE_PATH: torchCache }, timeoutMs: Math.min(3 * 60_000, left()) });
    if (!r.ok) errors.push(`pytorch ${label}: ${r.error}`);
    else log(`pytorch (${label}): ${r.value!.tokensPerSec.toFixed(0)} tokens/s`);
    return r.ok ? r.value : null;
  };
  const torchRef = await torch(REFERENCE_MODEL, 'reference');
  const torchLarge = await torch(LARGE_MODEL, 'large');

  // Throwaway caches (a cold one beside a warm state cache, PyTorch's) hold hundreds of MB each.
  for (const dir of [torchCache, ...(cacheDir !== path.join(stateDir, 'cuda-cache') ? [cacheDir] : [])]) rmSync(dir, { recursive: true, force: true });

  const peaks = [refWarm?.peakGflops, refCold?.peakGflops, large?.peakGflops, torchRef?.peakGflops, torchLarge?.peakGflops].filter((x): x is number => typeof x === 'number');
  const machinePeak = peaks.length ? Math.max(...peaks) : null;
  const size = (model: TransformerModelConfig, o: EngineRun | null, t: TorchRun | null, label: string): SizeResult => {
    const flopsTok = trainFlopsPerToken(model);
    const figs = (tok: number, sps: number, peak: number, first: number, tf32: boolean | null): EngineSizeFigures => ({
      tokensPerSec: tok,
      secondsPerStep: sps,
      peakGflops: peak,
      mfuOwnPeak: (tok * flopsTok) / (peak * 1e9),
      mfu: machinePeak ? (tok * flopsTok) / (machinePeak * 1e9) : NaN,
      firstStepSeconds: first,
      tf32,
    });
    return {
      model: { ...model, batchSize: REFERENCE_BATCH, params: countParams(model).total, flopsPerToken: flopsTok },
      ours: o ? { backend: o.backend, ...figs(o.tokensPerSec, o.secondsPerStep, o.peakGflops, o.firstStepSeconds, o.device.tf32 ?? null) } : null,
      pytorch: t ? { version: t.torch, cuda: t.cuda, ...figs(t.tokensPerSec, t.secondsPerStep, t.peakGflops, t.firstStepSeconds, t.tf32 ?? null) } : null,
      ratio: o && t ? o.tokensPerSec / t.tokensPerSec : null,
      errors: errors.filter((e) => e.includes(label)),
    };
  };
  return {
    device: 'cuda',
    gpu,
    gpuName: row?.name ?? null,
    driver: smi?.driver ?? null,
    steps,
    machinePeakGflops: machinePeak,
    sizes: { reference: size(REFERENCE_MODEL, refWarm ?? refCold, torchRef, 'reference'), large: size(LARGE_MODEL, large, torchLarge, 'large') },
    firstStep: {
      ours: { coldSeconds: refCold?.firstStepSeconds ?? null, warmSeconds: refWarm?.firstStepSeconds ?? null, coldCreateSeconds: refCold?.createSeconds ?? null, cacheDir },
      pytorch: { coldSeconds: torchRef?.firstStepSeconds ?? null, largeSeconds: torchLarge?.firstStepSeconds ?? null },
    },
    tf32: { ours: oursTf32, pytorch: torchRef?.tf32 ?? torchLarge?.tf32 ?? null, torchSetting: setting },
    oursDevice: refCold?.device ?? null,
    seconds: (performance.now() - started) / 1000,
    errors,
  };
}
