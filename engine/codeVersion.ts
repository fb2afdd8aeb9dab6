// Which code trains a run: the package version plus a fingerprint of the code that decides
// the numbers (the training engine and the domain vocabulary: model shapes, schedules, data).
// Two runs with the same run_key and the same code version would store the same results, so
// one may be reused for the other (db/runs.ts reuseCompletedRuns).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The folders whose code decides a run's results, relative to this one. */
const RESULT_CODE = ['.', '../domain'];
const SOURCE = /\.(js|ts|mjs|cjs|wasm)$/;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sparsity') return pkg.version ?? '0.0.0';
    }
    if (path.dirname(dir) === dir) return '0.0.0';
  }
}

let cached: string | undefined;

/**
 * `<package version>+<12 hex of sha256 over the engine and domain code>`, e.g. `0.1.0+3f2a9c01b7de`.
 * Computed once per process (the code does not change under a running process).
 */
export function codeVersion(): string {
  if (cached) return cached;
  const hash = createHash('sha256');
  for (const rel of RESULT_CODE) {
    const root = path.resolve(__dirname, rel);
    for (const f of files(root)) {
      hash.update(path.relative(root, f));
      hash.update('\0');
      hash.update(readFileSync(f));
      hash.update('\0');
    }
  }
  cached = `${packageVersion()}+${hash.digest('hex').slice(0, 12)}`;
  return cached;
}
