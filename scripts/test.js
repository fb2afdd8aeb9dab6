#!/usr/bin/env node
// `npm test`: type-check and compile (the integration tests run the compiled CLI as real
// worker processes), then run every test file with node's test runner, one file at a time:
// unit tests from source through tsx, integration tests (real servers) from dist/.
//   npm test                 everything
//   npm test -- unit         unit tests only (no servers)
//   npm test -- sweep        files whose name contains "sweep"
const { spawnSync } = require('node:child_process');
const { readdirSync, existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const build = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const only = process.argv.slice(2);
const files = [];
for (const [dir, abs, ext] of [
  ['unit', path.join(root, 'test', 'unit'), '.test.ts'],
  ['integration', path.join(root, 'dist', 'test', 'integration'), '.test.js'],
]) {
  if (!existsSync(abs)) continue;
  for (const f of readdirSync(abs).sort()) {
    if (!f.endsWith(ext)) continue;
    if (only.length && !only.some((o) => f.includes(o) || dir === o)) continue;
    files.push(path.join(abs, f));
  }
}
// Tests train on wasm unless a test says otherwise: runs compared bit for bit must share a backend,
// and the wasm path (what a machine without a C++ compiler gets) stays tested. Tests of the native
// backend set these themselves.
const env = { ...process.env, SPARSITY_BACKEND: process.env.SPARSITY_BACKEND ?? 'wasm', SPARSITY_NATIVE_INSTALL: process.env.SPARSITY_NATIVE_INSTALL ?? '0' };
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  cwd: root,
  env,
});
process.exit(r.status ?? 1);
