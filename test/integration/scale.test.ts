// Scale: a sweep of many trivial runs completes with a bounded workflow history (the sweep
// continues as new every `continueAsNewEvery` runs) and bounded worker memory. The full
// 10,000-run figure comes from `sparsity bench orchestration --runs 10000` (README).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchOrchestration } from '../../bench/orchestration';

describe('scale', { timeout: 900_000 }, () => {
  it('1,000 runs complete through continue-as-new with bounded history and memory', async () => {
    const r = await benchOrchestration({ runs: 1000, slots: 2, maxParallel: 32, batch: 250, log: () => undefined });
    assert.equal(r.completed, 1000);
    assert.equal(r.sweepWorkflowRuns, 4, 'one workflow run per 250 runs started');
    // ~8 events per child run plus a few per batch: the history never grows with the sweep.
    assert.ok(r.maxSweepHistoryEvents < 250 * 10, `history of ${r.maxSweepHistoryEvents} events`);
    assert.ok(r.peakWorkerRssMiB < 1024, `peak worker RSS ${r.peakWorkerRssMiB} MiB`);
    process.stderr.write(`scale: ${JSON.stringify(r)}\n`);
  });
});
