// Other processes on this host, by pid: alive or not, what they run, stopping them.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/**
 * True while `pid` names a running process on this host (one of another user's counts: EPERM). A
 * zombie does not: in a container whose init never reaps, a stopped server stays one.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc (not Linux): kill(0) is all we know. With /proc, a missing entry means it just exited.
    return !existsSync('/proc/self/stat');
  }
}

/**
 * The command line of `pid`, arguments joined by spaces, or null if it is gone: /proc on Linux,
 * `ps` elsewhere. Used to tell a server we started from an unrelated process that reused its pid.
 */
export function commandLineOf(pid: number): string | null {
  const proc = `/proc/${pid}/cmdline`;
  if (existsSync('/proc/self/cmdline')) {
    try {
      return readFileSync(proc, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch {
      return null;
    }
  }
  const r = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** True while `pid` is alive and its command line contains `marker` (a data directory, a file): not a reused pid. */
export function runsWith(pid: number, marker: string): boolean {
  return isAlive(pid) && (commandLineOf(pid)?.includes(marker) ?? false);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends `signal` to `pid`, waits up to `graceMs` for it to exit, then SIGKILL. Works on processes
 * that are not our children (we cannot wait() on those: we poll). Resolves true if it had to kill.
 */
export async function stopProcess(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<boolean> {
  try {
    process.kill(pid, signal);
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return false;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return false;
  }
  while (isAlive(pid)) await sleep(50);
  return true;
}
