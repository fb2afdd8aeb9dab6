// Where the state directory is: $SPARSITY_HOME, else .sparsity/ in the checkout whatever the working
// directory (a second terminal elsewhere must find the same `sparsity dev`); an empty value is unset;
// a path that is not a directory is refused with the variable named, exit 2 from the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../domain/errors';
import { projectRoot, sparsityHome } from '../../stack/paths';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'sparsity-home-'));

test('default: .sparsity in the checkout, from any working directory; an empty SPARSITY_HOME is unset', () => {
  const expected = path.join(projectRoot(), '.sparsity');
  const cwd = process.cwd();
  try {
    process.chdir(tmp());
    assert.equal(sparsityHome({}), expected);
    assert.equal(sparsityHome({ SPARSITY_HOME: '' }), expected);
    assert.equal(sparsityHome({ SPARSITY_HOME: 'rel' }), path.join(process.cwd(), 'rel'), 'a relative value is taken from the working directory, as a shell user means it');
  } finally {
    process.chdir(cwd);
  }
  const h = tmp();
  assert.equal(sparsityHome({ SPARSITY_HOME: h }), h);
  assert.equal(sparsityHome({ SPARSITY_HOME: path.join(h, 'not', 'yet') }), path.join(h, 'not', 'yet'), 'a directory still to be made is fine');
});

test('a file, or a path under a file: refused naming SPARSITY_HOME and the file', () => {
  const file = path.join(tmp(), 'afile');
  writeFileSync(file, '');
  for (const value of [file, path.join(file, 'sub')]) {
    assert.throws(() => sparsityHome({ SPARSITY_HOME: value }), (e: Error) => e instanceof UsageError && e.message === `SPARSITY_HOME=${value}: ${file} is not a directory`);
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(projectRoot(), 'cli', 'main.ts'), 'sql', 'select 1'], {
    cwd: projectRoot(),
    env: { ...process.env, SPARSITY_HOME: file, DATABASE_URL: '' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim(), `error: SPARSITY_HOME=${file}: ${file} is not a directory`);
});
