// Where things live on disk.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

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
