// Who owns a state directory's embedded services (stack/stateDirOwner.ts), with real processes
// standing in for the servers: a live owner refuses, a dead owner's leftovers are stopped, and a
// recorded pid now used by an unrelated process is left alone.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../domain/errors';
import { isAlive } from '../../stack/processes';
import { claimStateDir, ownerFile, recordService, releaseService } from '../../stack/stateDirOwner';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A long-lived process whose command line carries `marker` (as a server's carries its data directory). */
function server(marker: string): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', marker], { stdio: 'ignore' });
  children.push(c);
  return c;
}

/** A pid that no process holds any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function ownedBy(home: string, pid: number, services: Record<string, { pid: number; marker: string }>): void {
  writeFileSync(ownerFile(home), JSON.stringify({ pid, host: os.hostname(), command: 'sparsity dev --workers 2', since: '2026-12-05T10:00:00.000Z', services }));
}

const home = () => mkdtempSync(path.join(os.tmpdir(), 'sparsity-owner-'));
const exited = (c: ChildProcess) => new Promise<NodeJS.Signals | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.signalCode) : c.once('exit', (_, s) => r(s))));

test('claim, record and release: the file names this process while it runs services, and goes with the last one', async () => {
  const h = home();
  await claimStateDir(h, () => assert.fail('nothing to stop'));
  await claimStateDir(h, () => assert.fail('idempotent'));
  recordService(h, 'postgres', 111, '/data');
  recordService(h, 'temporal', 222, '/t.sqlite');
  const rec = JSON.parse(readFileSync(ownerFile(h), 'utf8')) as { pid: number; services: Record<string, { pid: number }> };
  assert.equal(rec.pid, process.pid);
  assert.deepEqual(Object.keys(rec.services).sort(), ['postgres', 'temporal']);
  releaseService(h, 'temporal');
  assert.ok(existsSync(ownerFile(h)), 'still owned while PostgreSQL runs');
  releaseService(h, 'postgres');
  assert.equal(existsSync(ownerFile(h)), false);
});

test('a live owner: refused with exit-2 error naming the command and pid; its services untouched', async () => {
  const h = home();
  const owner = server('owner');
  const pgLike = server(path.join(h, 'postgres'));
  ownedBy(h, owner.pid as number, { postgres: { pid: pgLike.pid as number, marker: path.join(h, 'postgres') } });
  await assert.rejects(claimStateDir(h, () => undefined), (e: Error) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, new RegExp(`in use by \`sparsity dev --workers 2\` \\(pid ${owner.pid}, since 2026-12-05T10:00:00.000Z\\): stop it first, or give this command another state directory \\(SPARSITY_HOME\\)`));
    return true;
  });
  assert.ok(isAlive(pgLike.pid as number));
});

test('a dead owner: the services it left are stopped (SIGINT to PostgreSQL, SIGTERM to Temporal), then this process owns the directory', async () => {
  const h = home();
  const pgLike = server(path.join(h, 'postgres'));
  const temporalLike = server(path.join(h, 'temporal.sqlite'));
  const dead = deadPid();
  ownedBy(h, dead, {
    postgres: { pid: pgLike.pid as number, marker: path.join(h, 'postgres') },
    temporal: { pid: temporalLike.pid as number, marker: path.join(h, 'temporal.sqlite') },
  });
  const lines: string[] = [];
  await claimStateDir(h, (m) => lines.push(m));
  assert.equal(await exited(pgLike), 'SIGINT');
  assert.equal(await exited(temporalLike), 'SIGTERM');
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(
    lines[0] ?? '',
    new RegExp(`^stopping the PostgreSQL \\(pid ${pgLike.pid}\\) and Temporal dev server \\(pid ${temporalLike.pid}\\) left running by \`sparsity dev --workers 2\` \\(pid ${dead}, since .*\\), which ended without stopping them; their data is kept$`),
  );
  assert.equal((JSON.parse(readFileSync(ownerFile(h), 'utf8')) as { pid: number }).pid, process.pid);
});

test('a dead owner whose recorded pid now runs something else: that process is left alone', async () => {
  const h = home();
  const unrelated = server('something-else');
  ownedBy(h, deadPid(), { temporal: { pid: unrelated.pid as number, marker: path.join(h, 'temporal.sqlite') } });
  const lines: string[] = [];
  await claimStateDir(h, (m) => lines.push(m));
  assert.deepEqual(lines, []);
  assert.ok(isAlive(unrelated.pid as number));
});

test('a torn owner file (a crash while writing it) is taken over', async () => {
  const h = home();
  writeFileSync(ownerFile(h), '{"pid": 12');
  await claimStateDir(h, () => assert.fail('nothing to stop'));
  assert.equal((JSON.parse(readFileSync(ownerFile(h), 'utf8')) as { pid: number }).pid, process.pid);
});

test('isAlive: a zombie (exited, not yet reaped) is not alive', { skip: !existsSync('/proc/self/stat') && 'needs /proc' }, async () => {
  // A child of a shell that never waits for it: exited, unreaped while the shell sleeps.
  const sh = spawn('sh', ['-c', 'sh -c "exit 0" & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(sh);
  const pid = await new Promise<number>((r) => sh.stdout?.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  await new Promise((r) => setTimeout(r, 300));
  assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /\) Z /, 'the child is a zombie');
  assert.equal(isAlive(pid), false);
});
