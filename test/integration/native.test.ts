// The fast backend by default: on a machine with python3, pip and a C++ compiler, the first command
// that trains installs the native TensorFlow backend, and runs then train on it (recorded per run).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { submitSweep, waitForSweep } from '../../client/sweeps';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureNativeBackend, missingPrerequisite, prepareNativeBackend } from '../../stack/nativeBackend';
import { startLocalWorkers, type LocalWorkers } from '../../stack/stack';
import { startTestStack, type TestStack } from '../harness';
import { tinySweep } from '../sweeps';

describe('the native backend by default (real install, real Temporal + Postgres)', { timeout: 900_000 }, () => {
  let stack: TestStack;
  let workers: LocalWorkers | undefined;
  const saved = { backend: process.env.SPARSITY_BACKEND, install: process.env.SPARSITY_NATIVE_INSTALL };

  before(async () => {
    // What a user's shell has: no backend named, automatic install on (the test runner turns both off).
    delete process.env.SPARSITY_BACKEND;
    process.env.SPARSITY_NATIVE_INSTALL = '1';
    stack = await startTestStack();
  });
  after(async () => {
    await workers?.stop();
    await stack?.stop();
    for (const [key, value] of [['SPARSITY_BACKEND', saved.backend], ['SPARSITY_NATIVE_INSTALL', saved.install]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('installs once (or says in one line why it cannot), then trains on it', async () => {
    const lines: string[] = [];
    const missing = missingPrerequisite();
    const reason = await prepareNativeBackend({ onProgress: (l) => lines.push(l) });
    if (missing) {
      // Without a compiler the reason names what is missing, and training goes on with wasm.
      assert.equal(reason, missing);
      return;
    }
    assert.equal(reason, null, `install failed: ${reason}; ${lines.join(' | ')}`);
    const t0 = Date.now();
    assert.equal(await prepareNativeBackend(), null);
    assert.ok(Date.now() - t0 < 5_000, 'the second call finds the install');

    const spec = tinySweep({ name: 'native', grid: { activation: ['relu'], size: [{ dModel: 16, nLayers: 2 }], seed: [0] } });
    workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: 1 });
    const { sweepId } = await submitSweep(stack.db, stack.client, spec);
    const final = await waitForSweep(stack.db, stack.client, sweepId);
    assert.equal(final.status, 'completed', JSON.stringify(final.runsDetail));
    assert.deepEqual(final.runsDetail.map((r) => r.backend), ['tensorflow']);

    // Another state directory on this machine (another clone, or a host sharing the per-machine cache)
    // installs from that cache alone: with pip and npm pointed at nothing, it fetches nothing and works.
    const offline = await ensureNativeBackend({
      variant: 'cpu',
      stateDir: mkdtempSync(path.join(os.tmpdir(), 'sparsity-offline-')),
      env: { ...process.env, PIP_CONFIG_FILE: '/dev/null', PIP_FIND_LINKS: '', PIP_EXTRA_INDEX_URL: '', PIP_INDEX_URL: 'http://127.0.0.1:9/simple', npm_config_registry: 'http://127.0.0.1:9/' },
      onProgress: () => undefined,
    });
    assert.ok(offline.ok && offline.installedNow, JSON.stringify(offline));
  });
});
