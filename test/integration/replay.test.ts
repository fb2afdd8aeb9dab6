// Replays checked-in workflow histories against today's workflow code: a change that would
// break sweeps already running (non-determinism) fails here, before it is deployed.
// Regenerate after an intended, versioned change: UPDATE_HISTORIES=1 npm test -- sweep
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';

const dir = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'histories');

describe('workflow determinism', { timeout: 300_000 }, () => {
  for (const [name, workflowId] of [
    // The grid plan (sweeps started before stored plans), frozen.
    ['sweep.json', 'sweep'],
    // The stored plan: what every submit, retry and extend runs now.
    ['sweep-stored.json', 'sweep'],
    ['run.json', 'run'],
  ] as const) {
    it(`replays the ${workflowId} workflow history ${name} without non-determinism`, async () => {
      const history = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
      assert.ok(history.events.length > 10, 'a real history');
      await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, workflowId);
    });
  }
});
