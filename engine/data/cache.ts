// Where derived data (trained tokenizers, tokenised corpora) is cached between processes.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Write atomically (temp file + rename), so concurrent workers never read a half-written cache. */
export function writeCacheFile(dir: string, name: string, data: Uint8Array | string): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, path.join(dir, name));
}

export function readCacheFile(dir: string, name: string): Buffer | null {
  try {
    return fs.readFileSync(path.join(dir, name));
  } catch {
    return null;
  }
}
