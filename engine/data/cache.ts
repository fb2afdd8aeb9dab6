// Where derived data (trained tokenizers, tokenised corpora) is cached between processes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../stack/paths';

/** `$SPARSITY_CACHE_DIR`, else `.sparsity/cache` at the repository root (found from this file). */
export function cacheDir(): string {
  if (process.env.SPARSITY_CACHE_DIR) return process.env.SPARSITY_CACHE_DIR;
  return path.join(projectRoot(), '.sparsity', 'cache');
}

/** Write atomically (temp file + rename), so concurrent workers never read a half-written cache. */
export function writeCacheFile(name: string, data: Uint8Array | string): void {
  const dir = cacheDir();
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, path.join(dir, name));
}

export function readCacheFile(name: string): Buffer | null {
  try {
    return fs.readFileSync(path.join(cacheDir(), name));
  } catch {
    return null;
  }
}
