#!/usr/bin/env node
// `npm test`: compile, then run every test file (unit first, then integration) with
// node's test runner, one file at a time (integration tests start real servers).
const { spawnSync } = require('node:child_process');
const { readdirSync, existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const build = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const only = process.argv.slice(2);
const files = [];
for (const dir of ['unit', 'integration']) {
  const abs = path.join(root, 'dist', 'test', dir);
  if (!existsSync(abs)) continue;
  for (const f of readdirSync(abs).sort()) {
    if (!f.endsWith('.test.js')) continue;
    if (only.length && !only.some((o) => f.includes(o) || dir === o)) continue;
    files.push(path.join(abs, f));
  }
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
