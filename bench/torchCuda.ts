// PyTorch with CUDA for the GPU benchmarks: which wheel fits the host's driver, and its venv
// (`<state>/venv-torch-cuda-<version>`), created on first use from PyPI's default index.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NvidiaSmiReport } from '../engine/device';
import { compareVersions, GpuSetupError } from '../stack/gpuPlan';

/** A PyTorch release as PyPI's default index ships it for Linux x86-64 (a CUDA build). */
export interface TorchCudaBuild {
  torch: string;
  /** CUDA runtime of the `nvidia-cuda-runtime*` wheel it depends on. */
  cuda: string;
  /** Lowest driver that runs it. */
  minDriver: string;
}

// From `pip install --dry-run --report` against https://pypi.org/simple (2026-12-02):
// torch 2.13.0 → nvidia-cuda-runtime 13.0.96, nvidia-cudnn-cu13 9.20; torch 2.9.1 →
// nvidia-cuda-runtime-cu12 12.8.90, nvidia-cudnn-cu12 9.10.2.21. CUDA 13.0 needs driver ≥ 580.65.06
// (CUDA Toolkit Release Notes, table 3). torch's CUDA wheels carry sm_90 machine code (no PTX JIT),
// so CUDA 12's minor-version compatibility lets cu128 run on any ≥ 525.60.13 driver.
export const TORCH_CUDA_BUILDS: readonly TorchCudaBuild[] = [
  { torch: '2.13.0', cuda: '13.0', minDriver: '580.65.06' },
  { torch: '2.9.1', cuda: '12.8', minDriver: '525.60.13' },
];

/** The newest build the driver runs; SPARSITY_TORCH_VERSION forces one. Throws GpuSetupError (exit 2). */
export function planTorchCuda(smi: NvidiaSmiReport | null, forced?: string): TorchCudaBuild {
  if (!smi) throw new GpuSetupError('PyTorch CUDA: nvidia-smi is not on PATH, so this host has no usable NVIDIA GPU');
  if (forced) {
    const b = TORCH_CUDA_BUILDS.find((x) => x.torch === forced);
    if (!b) throw new GpuSetupError(`SPARSITY_TORCH_VERSION=${forced}: known CUDA builds: ${TORCH_CUDA_BUILDS.map((x) => x.torch).join(', ')}`);
    if (compareVersions(smi.driver, b.minDriver) < 0) throw new GpuSetupError(`SPARSITY_TORCH_VERSION=${forced} (CUDA ${b.cuda}) needs driver ≥ ${b.minDriver}; this host has ${smi.driver}`);
    return b;
  }
  const b = TORCH_CUDA_BUILDS.find((x) => compareVersions(smi.driver, x.minDriver) >= 0);
  if (!b) throw new GpuSetupError(`PyTorch CUDA: NVIDIA driver ${smi.driver} is older than ${TORCH_CUDA_BUILDS[TORCH_CUDA_BUILDS.length - 1].minDriver}; upgrade the driver`);
  return b;
}

export interface TorchVenvPlan {
  build: TorchCudaBuild;
  venv: string;
  python: string;
  /** pip's arguments after `python -m pip`. */
  pipArgs: string[];
}

/**
 * `--isolated` so that a pip config pointing at a CPU-only index (as on CI machines) cannot swap
 * in the CPU wheel; SPARSITY_TORCH_INDEX_URL for a mirror of PyPI.
 */
export function torchVenvPlan(stateDir: string, build: TorchCudaBuild, env: NodeJS.ProcessEnv = process.env): TorchVenvPlan {
  const venv = path.join(stateDir, `venv-torch-cuda-${build.torch}`);
  const index = env.SPARSITY_TORCH_INDEX_URL || 'https://pypi.org/simple';
  return {
    build,
    venv,
    python: path.join(venv, 'bin', 'python'),
    pipArgs: ['--isolated', 'install', '-q', '--disable-pip-version-check', '--index-url', index, `torch==${build.torch}`, 'numpy'],
  };
}

/** Marker written after a complete install: a venv killed mid-install is started over. */
const doneMarker = (p: TorchVenvPlan) => path.join(p.venv, '.sparsity-complete');

export function torchVenvReady(p: TorchVenvPlan): boolean {
  return existsSync(doneMarker(p));
}

/**
 * Creates the venv and installs torch into it unless already complete. Resolves with null or a
 * one-line failure; `signal` kills the pip process group (a phase timeout).
 */
export async function installTorchCuda(p: TorchVenvPlan, opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; log?: (l: string) => void } = {}): Promise<string | null> {
  if (torchVenvReady(p)) return null;
  const log = opts.log ?? (() => undefined);
  rmSync(p.venv, { recursive: true, force: true });
  mkdirSync(path.dirname(p.venv), { recursive: true });
  const run = (label: string, cmd: string, args: string[]) =>
    new Promise<string | null>((resolve) => {
      const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-4000)));
      const kill = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      };
      opts.signal?.addEventListener('abort', kill, { once: true });
      child.on('error', (e) => resolve(`${label}: ${e.message}`));
      child.on('close', (code) => {
        opts.signal?.removeEventListener('abort', kill);
        resolve(code === 0 ? null : `${label} failed (exit ${code}): ${err.trim().split('\n').pop() ?? ''}`);
      });
    });
  log(`creating ${p.venv}`);
  const venvErr = await run('python3 -m venv', 'python3', ['-m', 'venv', p.venv]);
  if (venvErr) return `${venvErr} (install python3-venv)`;
  log(`pip install torch==${p.build.torch} (CUDA ${p.build.cuda}) from ${p.pipArgs[p.pipArgs.indexOf('--index-url') + 1]}`);
  const pipErr = await run(`pip install torch==${p.build.torch} into ${p.venv}`, p.python, ['-m', 'pip', ...p.pipArgs]);
  if (pipErr) return pipErr;
  writeFileSync(doneMarker(p), `${new Date().toISOString()}\n`);
  return null;
}
