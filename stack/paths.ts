// Where things live on disk.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EnginePaths } from '../engine/types';

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

/** State directory: embedded databases, endpoints.json, caches. */
export function sparsityHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.SPARSITY_HOME ?? '.sparsity');
}

/**
 * Where the training engine caches derived data and finds the native TensorFlow backend:
 * `$SPARSITY_CACHE_DIR` (default `.sparsity/cache` at the package root, shared by every process
 * of a checkout) and `$SPARSITY_TFJS_NODE` (default: where `scripts/tfjs-node/install.sh` builds it).
 */
export function enginePaths(env: NodeJS.ProcessEnv = process.env): EnginePaths {
  const root = projectRoot();
  return {
    cacheDir: env.SPARSITY_CACHE_DIR ?? path.join(root, '.sparsity', 'cache'),
    nativeBackendDir: env.SPARSITY_TFJS_NODE ?? path.join(root, '.sparsity', 'tfjs-node', 'node_modules', '@tensorflow', 'tfjs-node'),
  };
}
