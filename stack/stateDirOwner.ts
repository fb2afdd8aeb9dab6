// Which process owns the embedded services of a state directory. The services run in process
// groups of their own (a terminal's Ctrl-C must reach only us first, cli/interrupt.ts), so a
// `kill -9` of that process leaves them running; the next command on the directory finds them
// here, stops them and starts its own, instead of tripping over PostgreSQL's lock file or
// opening a second Temporal server on the same SQLite file.
import { mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../domain/errors';
import { isAlive, runsWith, stopProcess } from './processes';

export type EmbeddedService = 'postgres' | 'temporal';

interface ServiceRecord {
  pid: number;
  /** A string in the service's command line (its data directory or SQLite file): pids are reused. */
  marker: string;
}

interface OwnerRecord {
  pid: number;
  host: string;
  command: string;
  since: string;
  services: Partial<Record<EmbeddedService, ServiceRecord>>;
}

const SERVICE_NAMES: Record<EmbeddedService, string> = { postgres: 'PostgreSQL', temporal: 'Temporal dev server' };
/** PostgreSQL's fast shutdown (SIGINT) writes a checkpoint; Temporal stops on SIGTERM. */
const STOP: Record<EmbeddedService, { signal: NodeJS.Signals; graceMs: number }> = {
  postgres: { signal: 'SIGINT', graceMs: 30_000 },
  temporal: { signal: 'SIGTERM', graceMs: 10_000 },
};

export function ownerFile(home: string): string {
  return path.join(home, 'services.json');
}

function read(home: string): OwnerRecord | null {
  try {
    return JSON.parse(readFileSync(ownerFile(home), 'utf8')) as OwnerRecord;
  } catch {
    return null;
  }
}

function write(home: string, rec: OwnerRecord): void {
  const tmp = `${ownerFile(home)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, ownerFile(home));
}

const describe = (rec: OwnerRecord) => `\`${rec.command}\` (pid ${rec.pid}${rec.host === os.hostname() ? '' : ` on ${rec.host}`}, since ${rec.since})`;

/**
 * Makes this process the owner of `home`'s embedded services. Services left running by an owner
 * that has died are stopped first (their data is kept: PostgreSQL's fast shutdown, Temporal's
 * SIGTERM), with one line through `log`. Idempotent within one process.
 *
 * @throws UsageError when another live process (or one on another host: we cannot tell) owns them.
 */
export async function claimStateDir(home: string, log: (m: string) => void): Promise<void> {
  mkdirSync(home, { recursive: true });
  const mine: OwnerRecord = {
    pid: process.pid,
    host: os.hostname(),
    command: `sparsity ${process.argv.slice(2).join(' ')}`.trim(),
    since: new Date().toISOString(),
    services: {},
  };
  for (;;) {
    try {
      const fd = openSync(ownerFile(home), 'wx', 0o600);
      writeSync(fd, `${JSON.stringify(mine, null, 2)}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const rec = read(home);
    if (rec === null) {
      // Being written by a process claiming it right now, or torn: look again once it has settled.
      await new Promise((r) => setTimeout(r, 200));
      if (read(home) === null) rmSync(ownerFile(home), { force: true });
      continue;
    }
    if (rec.pid === process.pid && rec.host === mine.host) return;
    if (rec.host !== mine.host || isAlive(rec.pid)) {
      throw new UsageError(
        `the embedded services under ${home} are in use by ${describe(rec)}: stop it first, or give this command another state directory (SPARSITY_HOME)`,
      );
    }
    const left = (Object.entries(rec.services) as [EmbeddedService, ServiceRecord][]).filter(([, s]) => runsWith(s.pid, s.marker));
    if (left.length > 0) {
      log(
        `stopping the ${left.map(([name, s]) => `${SERVICE_NAMES[name]} (pid ${s.pid})`).join(' and ')} left running by ${describe(rec)}, which ended without stopping them; their data is kept`,
      );
      for (const [name, s] of left) {
        if (await stopProcess(s.pid, STOP[name].signal, STOP[name].graceMs)) log(`the ${SERVICE_NAMES[name]} (pid ${s.pid}) did not stop in ${STOP[name].graceMs / 1000} s: killed`);
      }
    }
    // Rename first, so that of two processes finding the same dead owner only one takes over.
    const taken = `${ownerFile(home)}.dead.${process.pid}`;
    try {
      renameSync(ownerFile(home), taken);
      rmSync(taken, { force: true });
    } catch {
      /* the other one got there first */
    }
  }
}

/** Records a service this process started under `home` (after `claimStateDir`). */
export function recordService(home: string, name: EmbeddedService, pid: number, marker: string): void {
  const rec = read(home);
  if (!rec || rec.pid !== process.pid) return;
  rec.services[name] = { pid, marker };
  write(home, rec);
}

/** Forgets a stopped service; the last one gives the state directory up. */
export function releaseService(home: string, name: EmbeddedService): void {
  const rec = read(home);
  if (!rec || rec.pid !== process.pid) return;
  delete rec.services[name];
  if (Object.keys(rec.services).length === 0) rmSync(ownerFile(home), { force: true });
  else write(home, rec);
}
