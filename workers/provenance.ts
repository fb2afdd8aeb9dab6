// The code a worker process runs, identified once at its start (issue 12.6): package version,
// git commit and dirty flag (from the package root, only when that root IS the top of a git
// checkout), a content hash of the code, and the installed versions of the dependencies that
// train and orchestrate. Stored per run and per segment (db/provenance.ts).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { buildIdOf, type CodeProvenance } from '../domain/provenance';

/** The package root: the nearest directory above this file whose package.json is `sparsity`. */
export function packageRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sparsity') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the sparsity package root above ${from}`);
    dir = up;
  }
}

function git(root: string, args: string[]): string | null {
  const r = spawnSync('git', args, { cwd: root, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? r.stdout : null;
}

/** Sorted relative paths of the files under `dir` whose name passes `keep`, skipping `skip` folders. */
function listFiles(dir: string, keep: (name: string) => boolean, skip: Set<string>, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = statSync(path.join(dir, r));
    if (st.isDirectory()) {
      if (!skip.has(r)) out.push(...listFiles(dir, keep, skip, r));
    } else if (keep(name)) out.push(r);
  }
  return out;
}

const SOURCE_DIRS = ['activities', 'analysis', 'bench', 'cli', 'client', 'db', 'domain', 'engine', 'stack', 'stores', 'workers', 'workflows'];

/**
 * SHA-256 over (path, bytes) of the code that runs: `dist/**\/*.js` outside `dist/test` when the
 * package is built, else the `.ts` sources of the code folders (run through tsx).
 */
export function contentHashOf(root: string): { contentHash: string; contentOf: 'dist' | 'sources' } {
  const hash = createHash('sha256');
  const dist = path.join(root, 'dist');
  const add = (base: string, files: string[]) => {
    for (const f of files) {
      hash.update(`${f}\0`);
      hash.update(readFileSync(path.join(base, f)));
      hash.update('\0');
    }
  };
  if (existsSync(path.join(dist, 'workers'))) {
    add(dist, listFiles(dist, (n) => n.endsWith('.js'), new Set(['test'])));
    return { contentHash: hash.digest('hex'), contentOf: 'dist' };
  }
  for (const d of SOURCE_DIRS) {
    if (existsSync(path.join(root, d))) add(root, listFiles(root, (n) => n.endsWith('.ts'), new Set(), d));
  }
  return { contentHash: hash.digest('hex'), contentOf: 'sources' };
}

/** Installed versions of every @tensorflow/* and @temporalio/* package, kysely, pg, and node. */
export function dependencyVersions(root: string): Record<string, string> {
  const modules = path.join(root, 'node_modules');
  const names: string[] = ['kysely', 'pg'];
  for (const scope of ['@tensorflow', '@temporalio']) {
    const dir = path.join(modules, scope);
    if (existsSync(dir)) for (const n of readdirSync(dir).sort()) names.push(`${scope}/${n}`);
  }
  const out: Record<string, string> = {};
  for (const n of names.sort()) {
    const pj = path.join(modules, n, 'package.json');
    if (!existsSync(pj)) continue;
    const v = (JSON.parse(readFileSync(pj, 'utf8')) as { version?: string }).version;
    if (v) out[n] = v;
  }
  out.node = process.versions.node;
  return out;
}

/** Gathers the provenance of the package at `root` (git, content hash, dependency versions). */
export function gatherCodeProvenance(root: string, env: NodeJS.ProcessEnv = process.env): CodeProvenance {
  const packageVersion = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  // Only a checkout whose top IS the package root describes this code: an npm install inside
  // someone's repository must not borrow that repository's commit.
  const top = git(root, ['rev-parse', '--show-toplevel'])?.trim();
  const isCheckout = top !== undefined && realpathSync(top) === realpathSync(root);
  const commit = isCheckout ? (git(root, ['rev-parse', 'HEAD'])?.trim() ?? null) : null;
  const status = commit ? git(root, ['status', '--porcelain']) : null;
  const dirtyLines = status ? status.split('\n').filter((l) => l.trim() !== '') : [];
  const { contentHash, contentOf } = contentHashOf(root);
  const base = {
    packageVersion,
    source: commit ? ('git' as const) : ('content' as const),
    gitCommit: commit,
    gitDirty: commit ? dirtyLines.length > 0 : null,
    ...(dirtyLines.length ? { dirtyPaths: dirtyLines.slice(0, 20).map((l) => l.slice(3)) } : {}),
    contentHash,
    contentOf,
    dependencies: dependencyVersions(root),
  };
  const override = env.SPARSITY_BUILD_ID?.trim();
  return { ...base, buildId: override || buildIdOf(base) };
}

/** How a worker hands its provenance to the training slots it forks. */
export const PROVENANCE_ENV = 'SPARSITY_CODE_PROVENANCE';

let cached: CodeProvenance | undefined;
/**
 * This process's code provenance, computed on first use (once per worker process). A training
 * slot forked by `sparsity worker` takes its parent's (PROVENANCE_ENV): slots are restarted
 * after a crash, and one restarted after the tree changed on disk must still announce the
 * worker's build, or the runs pinned to that build would find no slot. Restart the worker after
 * changing its code.
 */
export function codeProvenance(env: NodeJS.ProcessEnv = process.env): CodeProvenance {
  const inherited = env[PROVENANCE_ENV];
  cached ??= inherited ? (JSON.parse(inherited) as CodeProvenance) : gatherCodeProvenance(packageRoot());
  return cached;
}
