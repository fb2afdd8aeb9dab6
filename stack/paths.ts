// Where things live on disk.
import { existsSync, readFileSync, statSync, type Stats } from 'node:fs';
import { UsageError } from '../domain/errors';
import path from 'node:path';
import type { EnginePaths, NativeCandidate, NativeVariant } from '../engine/types';

/** The package root (holds package.json), whether we run from dist/ or from sources. */
export function projectRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sparsity') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the sparsity package root above ${__dirname}`);
    dir = up;
  }
}

/**
 * State directory: embedded databases, endpoints.json, services.json, the native install.
 * `$SPARSITY_HOME`, else `.sparsity/` in the checkout — not in the working directory, so that a
 * second terminal elsewhere finds the same `sparsity dev` and database. An empty value counts as
 * unset (`export SPARSITY_HOME=` must not scatter state into the working directory).
 *
 * @throws UsageError when the path, or the nearest existing directory above it, is not a directory.
 */
export function sparsityHome(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.SPARSITY_HOME;
  const home = raw ? path.resolve(raw) : path.join(projectRoot(), '.sparsity');
  for (let p = home; ; p = path.dirname(p)) {
    let st: Stats | undefined;
    try {
      st = statSync(p);
    } catch {
      if (path.dirname(p) === p) break;
      continue;
    }
    if (!st.isDirectory()) throw new UsageError(`SPARSITY_HOME=${raw ?? home}: ${p} is not a directory`);
    break;
  }
  return home;
}

/**
 * Per-state-dir install of the native backend: `$SPARSITY_HOME/native/tfjs-node-<variant>`. It
 * holds the npm package and its compiled binding, linked to this checkout's tfjs-core; the large
 * TensorFlow/CUDA libraries it links to live in the per-machine cache (see stack/nativeBackend.ts).
 */
export function nativeInstallDir(variant: NativeVariant, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(sparsityHome(env), 'native', `tfjs-node-${variant}`);
}

/** The tfjs-node package inside an install dir. */
export function nativePackageDir(installDir: string, variant: NativeVariant): string {
  return path.join(installDir, 'node_modules', '@tensorflow', variant === 'gpu' ? 'tfjs-node-gpu' : 'tfjs-node');
}

/** The variant this process wants: SPARSITY_DEVICE=gpu (set in GPU slots' environment) or cpu. */
export function nativeVariantOf(env: NodeJS.ProcessEnv = process.env): NativeVariant {
  return env.SPARSITY_DEVICE === 'gpu' ? 'gpu' : 'cpu';
}

/** Places tfjs-node may be, in the order the engine tries them, each with a label for error messages. */
export function nativeCandidates(variant: NativeVariant, env: NodeJS.ProcessEnv = process.env): NativeCandidate[] {
  const out: NativeCandidate[] = [];
  if (env.SPARSITY_TFJS_NODE) out.push({ label: `SPARSITY_TFJS_NODE=${env.SPARSITY_TFJS_NODE}`, request: env.SPARSITY_TFJS_NODE });
  const installed = nativePackageDir(nativeInstallDir(variant, env), variant);
  if (variant === 'gpu') {
    out.push({ label: '@tensorflow/tfjs-node-gpu (npm)', request: '@tensorflow/tfjs-node-gpu' });
    out.push({ label: installed, request: installed });
  } else {
    out.push({ label: '@tensorflow/tfjs-node (npm)', request: '@tensorflow/tfjs-node' });
    out.push({ label: installed, request: installed });
    // Where `npm run setup:tensorflow` (scripts/tfjs-node/install.sh) put it before the automatic install.
    const legacy = path.join(projectRoot(), '.sparsity', 'tfjs-node', 'node_modules', '@tensorflow', 'tfjs-node');
    out.push({ label: legacy, request: legacy });
  }
  return out;
}

/**
 * Where the training engine caches derived data and finds the native TensorFlow backend:
 * `$SPARSITY_CACHE_DIR` (default `.sparsity/cache` at the package root, shared by every process
 * of a checkout) and the native-backend candidates for this process's variant (SPARSITY_DEVICE).
 */
export function enginePaths(env: NodeJS.ProcessEnv = process.env): EnginePaths {
  return {
    cacheDir: env.SPARSITY_CACHE_DIR ?? path.join(projectRoot(), '.sparsity', 'cache'),
    nativeCandidates: nativeCandidates(nativeVariantOf(env), env),
  };
}
