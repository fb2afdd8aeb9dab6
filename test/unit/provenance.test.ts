// Code provenance and a host's connection budget, without servers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildIdOf } from '../../domain/provenance';
import { cpuDeviceInfo, deviceLabel } from '../../engine/deviceInfo';
import { codeProvenance, contentHashOf, gatherCodeProvenance, packageRoot, PROVENANCE_ENV } from '../../workers/provenance';
import { connectionsNeeded, ORCHESTRATION_POOL, SLOT_POOL } from '../../workers/worker';

const ROOT = path.join(__dirname, '..', '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sparsity-prov-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fake package root: package.json, one source file, a node_modules with two dependencies. */
function fakePackage(dir: string, source: string): string {
  mkdirSync(path.join(dir, 'workers'), { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'sparsity', version: '9.8.7' }));
  writeFileSync(path.join(dir, 'workers', 'w.ts'), source);
  for (const [name, version] of [['kysely', '0.28.1'], ['@temporalio/worker', '1.24.0']]) {
    mkdirSync(path.join(dir, 'node_modules', name), { recursive: true });
    writeFileSync(path.join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
  }
  return dir;
}

const git = (cwd: string, ...args: string[]) => {
  const r = spawnSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

describe('code provenance', () => {
  it('outside a git checkout: named by a content hash of the sources, which changes with them', () => {
    const a = gatherCodeProvenance(fakePackage(path.join(tmp, 'a'), 'export const x = 1;\n'), {});
    const b = gatherCodeProvenance(fakePackage(path.join(tmp, 'b'), 'export const x = 2;\n'), {});
    assert.equal(a.source, 'content');
    assert.equal(a.gitCommit, null);
    assert.equal(a.gitDirty, null);
    assert.equal(a.contentOf, 'sources');
    assert.match(a.contentHash, /^[0-9a-f]{64}$/);
    assert.notEqual(a.contentHash, b.contentHash);
    assert.equal(a.buildId, `9.8.7+content-${a.contentHash.slice(0, 12)}`);
    assert.deepEqual(a.dependencies, { '@temporalio/worker': '1.24.0', kysely: '0.28.1', node: process.versions.node });
    // The same files elsewhere are the same build.
    cpSync(path.join(tmp, 'a'), path.join(tmp, 'a2'), { recursive: true });
    assert.equal(gatherCodeProvenance(path.join(tmp, 'a2'), {}).buildId, a.buildId);
  });

  it('a git checkout: commit, dirty flag from git status, and a dirty build id that changes with the edit', () => {
    const dir = fakePackage(path.join(tmp, 'g'), 'export const x = 1;\n');
    writeFileSync(path.join(dir, '.gitignore'), 'node_modules/\n');
    git(dir, 'init', '-q');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'c');
    const head = git(dir, 'rev-parse', 'HEAD');
    const clean = gatherCodeProvenance(dir, {});
    assert.equal(clean.source, 'git');
    assert.equal(clean.gitCommit, head);
    assert.equal(clean.gitDirty, false);
    assert.equal(clean.buildId, `9.8.7+${head.slice(0, 12)}`);
    writeFileSync(path.join(dir, 'workers', 'w.ts'), 'export const x = 3;\n');
    const dirty = gatherCodeProvenance(dir, {});
    assert.equal(dirty.gitDirty, true);
    assert.deepEqual(dirty.dirtyPaths, ['workers/w.ts']);
    assert.equal(dirty.buildId, `9.8.7+${head.slice(0, 12)}.dirty-${dirty.contentHash.slice(0, 10)}`);
    writeFileSync(path.join(dir, 'workers', 'w.ts'), 'export const x = 4;\n');
    assert.notEqual(gatherCodeProvenance(dir, {}).buildId, dirty.buildId);
  });

  it('a package inside someone else\'s repository does not borrow its commit', () => {
    const outer = path.join(tmp, 'outer');
    mkdirSync(outer);
    git(outer, 'init', '-q');
    writeFileSync(path.join(outer, 'README'), 'x');
    git(outer, 'add', '-A');
    git(outer, 'commit', '-qm', 'outer');
    const inner = fakePackage(path.join(outer, 'node_modules', 'sparsity'), 'export const x = 1;\n');
    const p = gatherCodeProvenance(inner, {});
    assert.equal(p.source, 'content');
    assert.equal(p.gitCommit, null);
  });

  it('SPARSITY_BUILD_ID overrides the build id (a deploy pipeline\'s own id), not the facts', () => {
    const p = gatherCodeProvenance(path.join(tmp, 'a'), { SPARSITY_BUILD_ID: 'image-sha256-abc' });
    assert.equal(p.buildId, 'image-sha256-abc');
    assert.equal(p.source, 'content');
  });

  it('a forked training slot announces its worker\'s build, not one recomputed from a tree changed since', () => {
    const parent = gatherCodeProvenance(path.join(tmp, 'a'), { SPARSITY_BUILD_ID: 'parent-build' });
    assert.deepEqual(codeProvenance({ [PROVENANCE_ENV]: JSON.stringify(parent) }), parent);
  });

  it('this package: its root, and a content hash over dist/ when built', () => {
    assert.equal(packageRoot(__dirname), ROOT);
    const h = contentHashOf(ROOT);
    assert.match(h.contentHash, /^[0-9a-f]{64}$/);
    assert.equal(h.contentHash, contentHashOf(ROOT).contentHash, 'deterministic');
    assert.equal(buildIdOf({ packageVersion: '1.0.0', gitCommit: 'a'.repeat(40), gitDirty: false, contentHash: 'f'.repeat(64) }), `1.0.0+${'a'.repeat(12)}`);
  });
});

describe('device', () => {
  it('the CPU case: model and cores from os.cpus(), the tfjs version, host and slot', () => {
    const d = cpuDeviceInfo('wasm', 3);
    const version = (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-core', 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(d.kind, 'cpu');
    assert.equal(d.backend, 'wasm');
    assert.equal(d.cpuModel, os.cpus()[0].model.trim());
    assert.equal(d.cpuCores, os.cpus().length);
    assert.equal(d.tfjs, version);
    assert.equal(d.host, os.hostname());
    assert.equal(d.slot, 3);
    assert.equal(d.gpuName, undefined);
    assert.match(deviceLabel(d), /^cpu .* \(wasm\)$/);
    assert.equal(deviceLabel({ ...d, kind: 'gpu', gpuName: 'NVIDIA H200', gpuMemoryMiB: 143771, tf32: true }), 'gpu NVIDIA H200 (140 GiB) tf32=on');
  });
});

describe('a host\'s Postgres connections', () => {
  it('orchestration pool + slots x per-slot pool; none for orchestration with --slots-only', () => {
    assert.deepEqual(connectionsNeeded({ slots: 4 }), { orchestration: ORCHESTRATION_POOL, perSlot: SLOT_POOL, total: ORCHESTRATION_POOL + 4 * SLOT_POOL });
    assert.equal(connectionsNeeded({ slots: 8, slotsOnly: true }).total, 8 * SLOT_POOL);
  });

  it('`worker --db-connections` below the need is refused with exit 2 and the arithmetic, before connecting anywhere', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'main.ts'), 'worker', '--slots', '4', '--db-connections', '10'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      timeout: 60_000,
    });
    assert.equal(r.status, 2, r.stderr);
    const need = ORCHESTRATION_POOL + 4 * SLOT_POOL;
    assert.match(r.stderr, new RegExp(`--db-connections 10 is below what this worker needs: ${need} Postgres connection\\(s\\) at most: orchestration pool ${ORCHESTRATION_POOL} \\+ 4 slot\\(s\\) x ${SLOT_POOL}`));
  });
});
