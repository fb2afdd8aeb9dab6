// Which tfjs backend a process trains on, and where it really runs. Nothing falls back silently:
// an explicitly requested backend (`--backend`, SPARSITY_BACKEND) that cannot load is an error
// naming what was tried; with no request the order is native TensorFlow → wasm → cpu, and a step
// down is announced in one line.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { queryNvidiaSmi, parseTfDeviceLog, tf32Enabled, type DeviceReport } from './device';
import type { BackendName, NativeCandidate, NativeVariant } from './types';

const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

/** A requested backend that cannot be used. `exitCode` 2 when the request itself is malformed. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** What `ensureNativeBackend` (stack/nativeBackend.ts) writes next to a finished install. */
export interface NativeInstallRecord {
  variant: NativeVariant;
  tensorflow: string;
  tfjsNode: string;
  cuda?: string;
  cudnn?: string;
}

let loadedNative: string | null = null;

/** The package directory the native backend came from, once loaded. */
export function loadedNativeDir(): string | null {
  return loadedNative;
}

/**
 * Loads tfjs-node (it registers backend 'tensorflow' in tfjs-core's global engine). Returns the
 * package directory that loaded, or the list of what was tried and why each failed.
 */
export function loadNative(candidates: readonly NativeCandidate[]): { dir: string } | { tried: string[] } {
  if (loadedNative) return { dir: loadedNative };
  // TensorFlow's C++ info lines (oneDNN, CPU features) are noise on every worker start.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const tried: string[] = [];
  for (const c of candidates) {
    let resolved: string;
    try {
      resolved = require.resolve(c.request);
    } catch {
      tried.push(`${c.label}: not installed`);
      continue;
    }
    try {
      require(resolved);
    } catch (e) {
      tried.push(`${c.label}: ${firstLine(e)}`);
      continue;
    }
    if (tf.findBackend('tensorflow') == null) {
      tried.push(`${c.label}: loaded but registered no 'tensorflow' backend`);
      continue;
    }
    loadedNative = packageRootOf(resolved);
    return { dir: loadedNative };
  }
  return { tried };
}

function packageRootOf(file: string): string {
  let dir = path.dirname(file);
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/** The backend asked for by `--backend` (wins) or SPARSITY_BACKEND; throws (exit 2) on a bad value. */
export function requestedBackend(flag: BackendName | undefined, env: NodeJS.ProcessEnv = process.env): { name: BackendName; source: string } | null {
  if (flag) return { name: flag, source: `--backend ${flag}` };
  const v = env.SPARSITY_BACKEND;
  if (v === undefined || v === '') return null;
  if (!(BACKEND_NAMES as readonly string[]).includes(v)) {
    throw new BackendUnavailableError(`SPARSITY_BACKEND=${v}: expected one of ${BACKEND_NAMES.join(', ')}`, 2);
  }
  return { name: v as BackendName, source: `SPARSITY_BACKEND=${v}` };
}

async function activate(name: BackendName, candidates: readonly NativeCandidate[]): Promise<string | null> {
  try {
    if (name === 'tensorflow') {
      const r = loadNative(candidates);
      if ('tried' in r) {
        if (r.tried.every((t) => t.endsWith(': not installed'))) {
          return `the native TensorFlow backend is not installed (looked for ${r.tried.map((t) => t.slice(0, -': not installed'.length)).join(', ')}; the first \`sparsity demo|dev|worker|bench train\` installs it, or run \`npm run setup:tensorflow\`)`;
        }
        return `cannot load the native TensorFlow backend (tried ${r.tried.join('; ')})`;
      }
    }
    if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    if (name === 'cpu') require('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend(name))) return `tfjs could not initialise the ${name} backend`;
    await tf.ready();
    return null;
  } catch (e) {
    return `${name} backend failed to initialise: ${firstLine(e)}`;
  }
}

export interface BackendChoice {
  backend: BackendName;
  /** One line for stderr when the default order stepped down (null when it did not). */
  notice: string | null;
}

/**
 * Activates a backend.
 * - Requested (`flag`, else SPARSITY_BACKEND): that one or {@link BackendUnavailableError}.
 * - Otherwise native TensorFlow, then wasm, then cpu; `notice` says why the first was skipped.
 *   `nativeUnavailable` is the installer's reason (stack/nativeBackend.ts) when it did not install.
 */
export async function selectBackend(
  opts: { flag?: BackendName; env?: NodeJS.ProcessEnv; nativeCandidates?: readonly NativeCandidate[]; nativeUnavailable?: string | null } = {},
): Promise<BackendChoice> {
  const env = opts.env ?? process.env;
  const candidates = opts.nativeCandidates ?? [];
  const req = requestedBackend(opts.flag, env);
  if (req) {
    const why = await activate(req.name, candidates);
    if (why) throw new BackendUnavailableError(`${req.source}: ${why}`);
    return { backend: req.name, notice: null };
  }
  const nativeWhy = await activate('tensorflow', candidates);
  if (!nativeWhy) return { backend: 'tensorflow', notice: null };
  // The installer's reason (stack/nativeBackend.ts) is the more useful one: it says what to install.
  const reason = opts.nativeUnavailable ?? (env.SPARSITY_NATIVE_UNAVAILABLE || nativeWhy);
  for (const name of ['wasm', 'cpu'] as const) {
    const why = await activate(name, candidates);
    // The installer's "or choose --backend wasm" is advice for a request by name; here it has been taken.
    if (!why) return { backend: name, notice: `training on ${name}: ${reason.replace(/[,;] or choose --backend wasm$/, '')}` };
  }
  throw new BackendUnavailableError(`no tfjs backend could be initialised (tensorflow: ${nativeWhy})`);
}

/** The install record next to a loaded package (written by stack/nativeBackend.ts), if any. */
export function readInstallRecord(packageDir: string): NativeInstallRecord | null {
  // <install>/node_modules/@tensorflow/<pkg> → <install>/sparsity-native.json
  const file = path.join(packageDir, '..', '..', '..', 'sparsity-native.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as NativeInstallRecord;
  } catch {
    return null;
  }
}

/**
 * Asks TensorFlow which GPUs it creates devices on, in a child process with the same package and
 * environment (CUDA_VISIBLE_DEVICES included): its start-up log is the only place the C library
 * says so, and it is written by C++ to fd 2, which a Node process cannot capture for itself.
 */
export function probeTensorflowGpus(packageDir: string, env: NodeJS.ProcessEnv = process.env): ReturnType<typeof parseTfDeviceLog> & { error?: string } {
  const code = `const tf=require(${JSON.stringify(require.resolve('@tensorflow/tfjs-core'))});require(${JSON.stringify(packageDir)});` + `tf.setBackend('tensorflow').then(()=>{tf.matMul(tf.ones([2,2]),tf.ones([2,2])).dataSync();process.exit(0)})`;
  const r = spawnSync(process.execPath, ['-e', code], {
    // The VLOG modules that say which CUDA libraries opened, why cuInit failed, which GPUs were created.
    env: { ...env, TF_CPP_MIN_LOG_LEVEL: '0', TF_CPP_VMODULE: 'dso_loader=1,cuda_driver=1,gpu_device=1' },
    encoding: 'utf8',
    timeout: 600_000,
  });
  const parsed = parseTfDeviceLog(r.stderr ?? '');
  if (r.status !== 0) return { ...parsed, error: `device probe exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}` };
  return parsed;
}

/**
 * Where the active backend trains, for run provenance. For a GPU install this starts one probe
 * process (a few seconds) and one `nvidia-smi` call; `noGpuReason` says why a GPU install is on CPU.
 */
export function describeDevice(backend: BackendName, env: NodeJS.ProcessEnv = process.env): DeviceReport & { noGpuReason?: string } {
  const base = { backend, tfjs: tf.version_core, ...(env.CUDA_VISIBLE_DEVICES !== undefined ? { visibleDevices: env.CUDA_VISIBLE_DEVICES } : {}) };
  if (backend !== 'tensorflow' || !loadedNative) return { kind: 'cpu', ...base };
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  const record = readInstallRecord(loadedNative);
  const tensorflow = binding?.TF_Version ?? record?.tensorflow;
  if (!(record?.variant === 'gpu' || path.basename(loadedNative) === 'tfjs-node-gpu')) return { kind: 'cpu', ...base, tensorflow };
  const probe = probeTensorflowGpus(loadedNative, env);
  const gpu = probe.gpus[0];
  if (!gpu) {
    return { kind: 'cpu', ...base, tensorflow, noGpuReason: probe.noGpuReason ?? probe.error ?? 'TensorFlow created no GPU device' };
  }
  let smi: ReturnType<typeof queryNvidiaSmi> = null;
  try {
    smi = queryNvidiaSmi(env);
  } catch {
    /* provenance without the driver figure is still provenance */
  }
  const visible = (env.CUDA_VISIBLE_DEVICES ?? '').split(',')[gpu.ordinal];
  const row = smi?.gpus.find((g) => String(g.index) === visible) ?? smi?.gpus.find((g) => g.name === gpu.name);
  return {
    kind: 'gpu',
    ...base,
    gpuName: gpu.name,
    gpuMemoryMiB: row?.memoryMiB ?? gpu.memoryMB,
    driver: smi?.driver,
    cuda: record?.cuda,
    cudnn: record?.cudnn,
    tensorflow,
    tf32: tf32Enabled(gpu.computeCapability, env),
  };
}

/**
 * A slot started for a GPU must train on it: throws one line saying what it found otherwise.
 * `slot` is the GPU index the slot was started for (its CUDA_VISIBLE_DEVICES).
 */
export function assertOnGpu(device: DeviceReport & { noGpuReason?: string }, slot: string): void {
  if (device.kind === 'gpu') return;
  const found = device.backend === 'tensorflow' ? `TensorFlow ${device.tensorflow ?? '?'} on CPU (${device.noGpuReason ?? 'CPU-only build'})` : `the ${device.backend} backend, which has no GPU support`;
  throw new BackendUnavailableError(`GPU slot ${slot} (CUDA_VISIBLE_DEVICES=${slot}): training would run on ${found}; refusing to start`);
}
