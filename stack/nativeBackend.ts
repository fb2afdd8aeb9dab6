// The native TensorFlow backend, installed on first use (issue 10 part 3, issue 13 part 1): the
// first command that trains on a machine runs scripts/tfjs-node/install.sh once, under a lock,
// with a progress line; when python3, pip or a C++ toolchain is missing it says so in one line and
// training goes on with wasm.
//
// Where things live, and why:
// - the TensorFlow (and CUDA) libraries extracted from PyPI wheels, plus the compiled binding, go
//   to a per-machine cache, `$SPARSITY_NATIVE_CACHE` or `${XDG_CACHE_HOME:-~/.cache}/sparsity/native/
//   libtensorflow-<variant>-<tf version>/`: they are the slow part (200 MB of wheel for CPU, ~3 GB for
//   GPU), immutable once complete, identical for every checkout, and a fresh clone on the same host
//   then pays neither the download nor the compile;
// - the npm package that loads them goes under the state directory, `$SPARSITY_HOME/native/
//   tfjs-node-<variant>/` (see activities/train/backendSelect.ts), because it is linked to this
//   checkout's tfjs-core (one engine, one Tensor class) and so is not shareable between checkouts.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackendUnavailableError, readInstallRecord, requestedBackend, type NativeInstallRecord } from '../engine/backendSelect';
import { queryNvidiaSmi } from '../engine/device';
import type { BackendName, NativeVariant } from '../engine/types';
import { projectRoot, sparsityHome, nativeCandidates, nativeInstallDir, nativePackageDir, nativeVariantOf } from './paths';
import { GpuSetupError, planGpuInstall } from './gpuPlan';
import { isAlive } from './processes';
import { stillToFetch, unreachableSource, type InstallTarget } from './installSources';

/** tfjs-node release whose binding sources are built (the project's tfjs-core is the same version). */
export const TFJS_NODE_VERSION = '4.22.0';
/** TensorFlow for the CPU build: tested end to end with this binding (scripts/tfjs-node/README.md). */
export const DEFAULT_CPU_TF = '2.15.1';

export interface NativePlan {
  variant: NativeVariant;
  tensorflow: string;
  /** The PyPI requirements the install fetches: the TensorFlow wheel, then the CUDA wheels (GPU). */
  wheels: string[];
  cuda?: string;
  cudnn?: string;
  /** Per-state-dir npm package + binding. */
  installDir: string;
  packageDir: string;
  /** Per-machine libraries (shared by every checkout). */
  libDir: string;
  /** GPU plan only: what nvidia-smi reported. */
  driver?: string;
  driverCuda?: string;
  gpus?: string[];
}

export interface EnsureNativeOptions {
  variant: NativeVariant;
  /** State directory (default $SPARSITY_HOME or ./.sparsity). */
  stateDir?: string;
  /** Per-machine cache (default $SPARSITY_NATIVE_CACHE or ${XDG_CACHE_HOME:-~/.cache}/sparsity/native). */
  cacheDir?: string;
  /** One line per install step (default: stderr, prefixed "native backend:"). */
  onProgress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Plan and check prerequisites only: no download, no build. */
  dryRun?: boolean;
}

export type EnsureNativeResult =
  | { ok: true; plan: NativePlan; installedNow: boolean; seconds: number }
  | { ok: false; reason: string; plan?: NativePlan };

export function machineCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SPARSITY_NATIVE_CACHE) return path.resolve(env.SPARSITY_NATIVE_CACHE);
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME ?? os.homedir(), '.cache');
  return path.join(base, 'sparsity', 'native');
}

/**
 * What an install of `variant` would fetch and where it would go. The GPU plan asks nvidia-smi
 * (on `env.PATH`) and throws {@link GpuSetupError} when there is no GPU or the driver is too old.
 */
export function planNative(opts: Pick<EnsureNativeOptions, 'variant' | 'stateDir' | 'cacheDir' | 'env'>): NativePlan {
  const env = opts.env ?? process.env;
  const stateEnv = opts.stateDir ? { ...env, SPARSITY_HOME: opts.stateDir } : env;
  const installDir = nativeInstallDir(opts.variant, stateEnv);
  const cache = opts.cacheDir ?? machineCacheDir(env);
  const forced = env.SPARSITY_TF_VERSION || undefined;
  const where = (tensorflow: string) => ({
    installDir,
    packageDir: nativePackageDir(installDir, opts.variant),
    libDir: path.join(cache, `libtensorflow-${opts.variant}-${tensorflow}`),
  });
  if (opts.variant === 'cpu') {
    const tensorflow = forced ?? DEFAULT_CPU_TF;
    return { variant: 'cpu', tensorflow, wheels: [`tensorflow-cpu==${tensorflow}`], ...where(tensorflow) };
  }
  const gpu = planGpuInstall(queryNvidiaSmi(env), forced);
  return {
    variant: 'gpu',
    tensorflow: gpu.build.tensorflow,
    wheels: [`tensorflow==${gpu.build.tensorflow}`, ...gpu.build.wheels],
    cuda: gpu.build.cuda,
    cudnn: gpu.build.cudnn,
    driver: gpu.driver,
    driverCuda: gpu.driverCuda,
    gpus: gpu.gpus.map((g) => `${g.index}: ${g.name} (${g.memoryMiB} MiB)`),
    ...where(gpu.build.tensorflow),
  };
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(path.delimiter).some((d) => d !== '' && existsSync(path.join(d, cmd)));
}

/** Why the install cannot run here, or null. Each reason is one line that says what to do. */
export function missingPrerequisite(env: NodeJS.ProcessEnv = process.env): string | null {
  const fix = 'or choose --backend wasm';
  if (!onPath('python3', env)) return `no python3 found (needed to fetch TensorFlow from PyPI); install python3 and pip, ${fix}`;
  const pip = spawnSync('python3', ['-m', 'pip', '--version'], { env, encoding: 'utf8', timeout: 60_000 });
  if (pip.status !== 0) return `python3 has no pip (python3 -m pip failed); install pip (e.g. apt-get install python3-pip), ${fix}`;
  if (!onPath('g++', env)) return `no C++ compiler (g++) found; install g++ and make (e.g. apt-get install g++ make), ${fix}`;
  if (!onPath('make', env)) return `no make found; install make (e.g. apt-get install make), ${fix}`;
  const nodeHeaders = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node', 'node_api.h');
  const nodedir = () => spawnSync('npm', ['config', 'get', 'nodedir'], { env, encoding: 'utf8' }).stdout?.trim();
  if (!existsSync(nodeHeaders) && !existsSync(path.join(nodedir() ?? '', 'include', 'node', 'node_api.h'))) {
    return `no Node.js headers (include/node/node_api.h next to ${process.execPath}); install Node.js with its headers (e.g. the nodejs.org tarball), ${fix}`;
  }
  return null;
}

/** True when the record next to the package says it was built for `plan` from this checkout. */
function upToDate(plan: NativePlan): boolean {
  const rec = readInstallRecord(plan.packageDir) as (NativeInstallRecord & { projectRoot?: string }) | null;
  return rec !== null && rec.variant === plan.variant && rec.tensorflow === plan.tensorflow && rec.tfjsNode === TFJS_NODE_VERSION && rec.projectRoot === projectRoot() && existsSync(path.join(plan.packageDir, 'package.json'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An exclusive lock file (O_EXCL create). A lock left by a dead process on this host, or older
 * than `staleMs`, is taken over. Resolves with a release function.
 */
export async function acquireLock(file: string, onWait: (holder: string) => void, staleMs = 60 * 60_000): Promise<() => void> {
  mkdirSync(path.dirname(file), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder: { pid?: number; host?: string; since?: string } = {};
    try {
      holder = JSON.parse(readFileSync(file, 'utf8')) as typeof holder;
    } catch {
      /* being written right now: look again shortly */
    }
    const age = holder.since ? Date.now() - Date.parse(holder.since) : 0;
    const dead = holder.host === os.hostname() && typeof holder.pid === 'number' && !isAlive(holder.pid);
    if (dead || age > staleMs) {
      // Rename first, so that of two processes finding the same stale lock only one removes it.
      try {
        renameSync(file, `${file}.stale.${process.pid}`);
        rmSync(`${file}.stale.${process.pid}`, { force: true });
      } catch {
        /* the other one got there first */
      }
      continue;
    }
    if (!announced && holder.pid) {
      onWait(`pid ${holder.pid} on ${holder.host}`);
      announced = true;
    }
    await sleep(500);
  }
}

/**
 * Makes the native backend of `variant` loadable by backend selection: returns at once when it is
 * installed; otherwise installs it (one process at a time per state directory, the machine cache
 * under its own lock in the script) and reports one line per step through `onProgress`.
 * Never throws for an environment problem: `{ok: false, reason}` is one line for the caller to
 * print before training on wasm (CPU) or refusing (GPU).
 */
export async function ensureNativeBackend(opts: EnsureNativeOptions): Promise<EnsureNativeResult> {
  const env = opts.env ?? process.env;
  const progress = opts.onProgress ?? ((l: string) => process.stderr.write(`native backend: ${l}\n`));
  let plan: NativePlan;
  try {
    plan = planNative(opts);
  } catch (e) {
    if (e instanceof GpuSetupError) return { ok: false, reason: e.message };
    throw e;
  }
  if (env.SPARSITY_NATIVE_INSTALL === '0') return { ok: false, reason: 'automatic install of the native TensorFlow backend is off (SPARSITY_NATIVE_INSTALL=0)', plan };
  if (upToDate(plan)) return { ok: true, plan, installedNow: false, seconds: 0 };
  const missing = missingPrerequisite(env);
  if (missing) return { ok: false, reason: missing, plan };
  const unreachable = unreachableSource(stillToFetch(installTarget(plan)), env);
  if (unreachable) {
    return {
      ok: false,
      reason:
        `${unreachable}. Point pip or npm at a mirror that has it (PIP_INDEX_URL, npm_config_registry), or install once on a host of the same kind ` +
        `that reaches them with the per-machine cache (${path.dirname(plan.libDir)}, SPARSITY_NATIVE_CACHE) on a shared file system: hosts that find it there fetch nothing; or choose --backend wasm`,
      plan,
    };
  }
  if (opts.dryRun) return { ok: true, plan, installedNow: false, seconds: 0 };

  const started = performance.now();
  const release = await acquireLock(`${plan.installDir}.lock`, (holder) => progress(`waiting for ${holder}, which is installing it`));
  try {
    if (upToDate(plan)) return { ok: true, plan, installedNow: false, seconds: (performance.now() - started) / 1000 };
    progress(`installing TensorFlow ${plan.tensorflow} (${plan.variant}) for tfjs-node ${TFJS_NODE_VERSION}: libraries in ${plan.libDir}, package in ${plan.installDir}`);
    const failure = await runInstallScript(plan, env, progress);
    if (failure) return { ok: false, reason: failure, plan };
    const record: NativeInstallRecord & { projectRoot: string; libDir: string; installedAt: string } = {
      variant: plan.variant,
      tensorflow: plan.tensorflow,
      tfjsNode: TFJS_NODE_VERSION,
      ...(plan.cuda ? { cuda: plan.cuda, cudnn: plan.cudnn } : {}),
      projectRoot: projectRoot(),
      libDir: plan.libDir,
      installedAt: new Date().toISOString(),
    };
    writeFileSync(path.join(plan.installDir, 'sparsity-native.json'), `${JSON.stringify(record, null, 2)}\n`);
    const seconds = (performance.now() - started) / 1000;
    progress(`ready in ${seconds.toFixed(0)} s`);
    return { ok: true, plan, installedNow: true, seconds };
  } finally {
    release();
  }
}

/** What install.sh is given to work on, for deciding what it would still fetch. */
function installTarget(plan: NativePlan): InstallTarget {
  return {
    variant: plan.variant,
    tensorflow: plan.tensorflow,
    libDir: plan.libDir,
    packageDir: plan.packageDir,
    npmTreeCache: path.join(path.dirname(plan.libDir), `npm-tfjs-node-${plan.variant}-${TFJS_NODE_VERSION}`),
    tfjsNodeVersion: TFJS_NODE_VERSION,
  };
}

function runInstallScript(plan: NativePlan, env: NodeJS.ProcessEnv, progress: (l: string) => void): Promise<string | null> {
  const script = path.join(projectRoot(), 'scripts', 'tfjs-node', 'install.sh');
  mkdirSync(plan.installDir, { recursive: true });
  const logFile = `${plan.installDir}.log`;
  const log = createWriteStream(logFile);
  const child = spawn('bash', [script], {
    env: {
      ...env,
      VARIANT: plan.variant,
      TF_VERSION: plan.tensorflow,
      TFJS_NODE_DIR: plan.installDir,
      LIBTF_DIR: plan.libDir,
      WHEEL_DIR: `${plan.libDir}.wheels`,
      CUDA_WHEELS: plan.wheels.slice(1).join(' '),
      NPM_TREE_CACHE: installTarget(plan).npmTreeCache,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let last = '';
  let buf = '';
  child.stdout.pipe(log, { end: false });
  child.stderr.on('data', (chunk: Buffer) => {
    log.write(chunk);
    buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      last = line;
      // The script's own step lines; pip/npm/compiler chatter stays in the log.
      if (line.startsWith('[tfjs-node] ')) progress(line.slice('[tfjs-node] '.length));
    }
  });
  return new Promise((resolve) => {
    child.on('error', (e) => resolve(`cannot run ${script}: ${e.message}`));
    child.on('close', (code) => {
      log.end();
      resolve(code === 0 ? null : `installing the native TensorFlow backend failed (${last.replace(/^\[tfjs-node\] /, '') || `exit ${code}`}; full log: ${logFile})`);
    });
  });
}

/**
 * What a training command (`demo`, `dev`, `worker`, `bench train`) runs before it starts training:
 * installs the native backend unless a non-native backend is requested. Returns the one-line
 * reason when it is not available (also put in SPARSITY_NATIVE_UNAVAILABLE, so that slots forked
 * afterwards report the same reason). Throws BackendUnavailableError when the native backend was
 * asked for by name (`--backend tensorflow`, SPARSITY_BACKEND=tensorflow) and cannot be installed,
 * and (exit 2) for a bad SPARSITY_BACKEND.
 */
export async function prepareNativeBackend(opts: { flag?: BackendName; variant?: NativeVariant; stateDir?: string; env?: NodeJS.ProcessEnv; onProgress?: (l: string) => void } = {}): Promise<string | null> {
  const env = opts.env ?? process.env;
  const req = requestedBackend(opts.flag, env);
  if (req && req.name !== 'tensorflow') return null;
  const variant = opts.variant ?? nativeVariantOf(env);
  const stateDir = opts.stateDir ?? sparsityHome(env);
  // Already there another way (npm-installed tfjs-node, SPARSITY_TFJS_NODE, `npm run setup:tensorflow`)?
  const stateEnv = { ...env, SPARSITY_HOME: stateDir };
  const ours = nativePackageDir(nativeInstallDir(variant, stateEnv), variant);
  const elsewhere = nativeCandidates(variant, stateEnv).some((c) => {
    if (path.resolve(c.request) === ours) return false;
    try {
      require.resolve(c.request);
      return true;
    } catch {
      return false;
    }
  });
  if (elsewhere) return null;
  const r = await ensureNativeBackend({ variant, stateDir, env, onProgress: opts.onProgress });
  if (r.ok) return null;
  // Asked for by name: fail here, before any stack or slot starts, with the installer's reason.
  if (req) throw new BackendUnavailableError(`${req.source}: ${r.reason}`);
  env.SPARSITY_NATIVE_UNAVAILABLE = r.reason;
  return r.reason;
}
