// `sparsity bench orchestration`: how fast the orchestration schedules runs, and what it costs
// per run beyond training. N runs of a trivial model (one optimiser step of a tiny MLP) go
// through the real path: SweepWorkflow -> RunWorkflow -> activities -> Postgres.
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateSweep } from '../domain/sweepSchema';
import { startLocalWorkers, startStack } from '../stack/stack';
import { submitSweep, waitForSweep } from '../client/sweeps';
import { connect } from '../db/connect';
import { sweepComputeSeconds } from '../db/sweeps';
import { connectClient } from '../workers/connections';

export interface BenchOrchestrationResult {
  runs: number;
  slots: number;
  maxParallel: number;
  completed: number;
  seconds: number;
  runsPerSecond: number;
  /** Mean seconds per run not spent in training or measuring, per slot. */
  overheadPerRunSeconds: number;
  trainSecondsPerRun: number;
  /** Workflow runs of the sweep (1 + continue-as-new count) and the longest history among them. */
  sweepWorkflowRuns: number;
  maxSweepHistoryEvents: number;
  peakWorkerRssMiB: number;
}

export async function benchOrchestration(opts: { runs?: number; slots?: number; maxParallel?: number; batch?: number; progress?: boolean; log?: (m: string) => void } = {}): Promise<BenchOrchestrationResult> {
  const runs = opts.runs ?? 1000;
  const slots = opts.slots ?? 2;
  const maxParallel = opts.maxParallel ?? 16;
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const seeds = Array.from({ length: runs }, (_, i) => i);
  const spec = validateSweep(
    {
      name: 'bench-orchestration',
      taskQueue: `bench-${process.pid}`,
      maxParallel,
      segmentSteps: 1,
      maxRuns: Math.max(runs, 1),
      continueAsNewEvery: opts.batch ?? 500,
      model: { family: 'mlp', ffn: 'plain', ffnMult: 1, inputDim: 4, outputDim: 2 },
      data: { kind: 'teacher', valSize: 8 },
      training: { steps: 1, batchSize: 4, evalEvery: 1 },
      measure: { metrics: ['exact'], primary: 'exact' },
      grid: { activation: ['relu'], size: [{ dModel: 4, nLayers: 1 }], seed: seeds },
    },
    'bench',
  );
  const home = mkdtempSync(path.join(os.tmpdir(), 'sparsity-bench-'));
  chmodSync(home, 0o755);
  const stack = await startStack({ home, log });
  const workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots });
  const db = connect(stack.endpoints.databaseUrl, { max: 2 });
  const client = await connectClient(stack.endpoints);
  let peakRss = 0;
  const sampler = setInterval(() => {
    for (const c of workers.slots.children) {
      try {
        const status = require('node:fs').readFileSync(`/proc/${c.pid}/status`, 'utf8') as string;
        const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakRss = Math.max(peakRss, kb / 1024);
      } catch {
        /* exited */
      }
    }
    peakRss = Math.max(peakRss, process.memoryUsage().rss / 2 ** 20);
  }, 1000);
  try {
    const t0 = performance.now();
    const { sweepId, workflowId } = await submitSweep(db, client, spec);
    log(`bench: ${runs} runs on ${slots} slots, maxParallel ${maxParallel} (${sweepId})`);
    const final = await waitForSweep(db, client, sweepId, opts.progress ? (s) => log(`  ${s.runs.completed}/${s.runs.total}`) : undefined, 10_000);
    const seconds = (performance.now() - t0) / 1000;
    const sums = await sweepComputeSeconds(db, sweepId);
    const trainTotal = sums.train + sums.measure;
    // Every continue-as-new leaves one closed run of the sweep workflow behind.
    let sweepWorkflowRuns = 0;
    let maxEvents = 0;
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      sweepWorkflowRuns++;
      maxEvents = Math.max(maxEvents, wf.historyLength);
    }
    return {
      runs,
      slots,
      maxParallel,
      completed: final.runs.completed,
      seconds,
      runsPerSecond: final.runs.completed / seconds,
      overheadPerRunSeconds: (seconds * slots - trainTotal) / Math.max(1, final.runs.completed),
      trainSecondsPerRun: trainTotal / Math.max(1, final.runs.completed),
      sweepWorkflowRuns,
      maxSweepHistoryEvents: maxEvents,
      peakWorkerRssMiB: Math.round(peakRss),
    };
  } finally {
    clearInterval(sampler);
    await client.connection.close();
    await db.destroy();
    await workers.stop();
    await stack.stop();
    rmSync(home, { recursive: true, force: true });
  }
}
