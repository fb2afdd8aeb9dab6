// What a stored number was produced by: the code (package, commit, dependencies) and the build
// id a worker announces to Temporal. Pure: workers/provenance.ts gathers the facts.

/** How the code of a worker process was identified. */
export interface CodeProvenance {
  /** `version` of the sparsity package.json. */
  packageVersion: string;
  /**
   * `git`: the package root is the top of a git checkout (commit + dirty flag from `git status
   * --porcelain`); `content`: it is not (an npm install, a copied tree), so the code is named by
   * `contentHash` alone.
   */
  source: 'git' | 'content';
  /** `git rev-parse HEAD`; null when `source` is `content`. */
  gitCommit: string | null;
  /** Uncommitted changes (tracked or untracked files) at worker start; null when not a checkout. */
  gitDirty: boolean | null;
  /** Up to 20 paths `git status --porcelain` listed, for a dirty tree. */
  dirtyPaths?: string[];
  /** SHA-256 (hex) over the relative path and bytes of every file in `contentOf`, sorted by path. */
  contentHash: string;
  /** What `contentHash` covers: the compiled `dist/**\/*.js` (outside dist/test), or the TypeScript sources when run without a build. */
  contentOf: 'dist' | 'sources';
  /** Installed versions: every @tensorflow/* and @temporalio/* package, kysely, pg, and `node`. */
  dependencies: Record<string, string>;
  /** The build id this process announces (see buildIdOf); `SPARSITY_BUILD_ID` overrides it. */
  buildId: string;
}

/**
 * The build id of a worker: the same code gives the same id on every host, different code a
 * different one. A clean checkout: `<version>+<commit 12>`; a dirty one adds `.dirty-<content 10>`
 * (two different uncommitted edits of one commit are different builds); not a checkout:
 * `<version>+content-<content 12>`. Temporal allows build ids up to 255 characters; these are < 64.
 */
export function buildIdOf(p: Pick<CodeProvenance, 'packageVersion' | 'gitCommit' | 'gitDirty' | 'contentHash'>): string {
  if (!p.gitCommit) return `${p.packageVersion}+content-${p.contentHash.slice(0, 12)}`;
  return `${p.packageVersion}+${p.gitCommit.slice(0, 12)}${p.gitDirty ? `.dirty-${p.contentHash.slice(0, 10)}` : ''}`;
}

/** The Temporal worker deployment a task queue's workers belong to: one per queue, so a deploy on one kind of host never reroutes another queue. */
export function deploymentNameOf(taskQueue: string): string {
  return `sparsity/${taskQueue}`;
}
