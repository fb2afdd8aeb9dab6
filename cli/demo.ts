// `sparsity demo`: the whole product in one command, on the embedded stack.
import type { Client } from '@temporalio/client';
import { connect } from '../db/connect';
import { listFits } from '../db/fits';
import { finalPoints } from '../db/sweeps';
import { connectClient } from '../workers/connections';
import { readEmbeddedEndpoints, removeEmbeddedEndpoints, writeEmbeddedEndpoints } from '../stack/endpoints';
import { prepareNativeBackend } from '../stack/nativeBackend';
import { sparsityHome } from '../stack/paths';
import { startLocalWorkers, startStack } from '../stack/stack';
import { UsageError } from '../domain/errors';
import { readSweepFile } from '../client/sweepFile';
import { cancelSweep, submitSweep, waitForSweep } from '../client/sweeps';
import { InterruptedError, whenAborted } from './interrupt';
import { StatusDisplay, printTable } from './display';
import { journeyLines, paramsText } from './fitDisplay';
import { JOURNEY_LAW } from '../analysis/sweepFits';

export interface DemoSummary {
  sweepId: string;
  runs: { total: number; completed: number };
  /** every stored fit; `params` are known values only when `status` is `ok` (else see `reason`) */
  fits: { law: string; group: string; params: Record<string, number>; mse: number | null; status: string; reason: string | null }[];
}

export async function runDemo(opts: {
  file: string;
  workers: number;
  json: boolean;
  log: (m: string) => void;
  out: (v: unknown) => void;
  checkpointStore: string;
  /** Aborted by the first Ctrl-C/SIGTERM: the sweep is cancelled, everything stopped, InterruptedError thrown. */
  signal?: AbortSignal;
}): Promise<DemoSummary> {
  const signal = opts.signal ?? new AbortController().signal;
  const spec = readSweepFile(opts.file);
  const home = sparsityHome();
  if (readEmbeddedEndpoints(home)) {
    throw new UsageError(`a sparsity dev stack is running for ${home}: stop it, or use \`sparsity submit ${opts.file} --wait\``);
  }
  await prepareNativeBackend();
  if (signal.aborted) throw new InterruptedError(await whenAborted(signal), 'nothing was started');
  const stack = await startStack({ home, log: opts.log });
  writeEmbeddedEndpoints(stack.endpoints, home);
  const workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: opts.workers, checkpointStore: opts.checkpointStore });
  let client: Client | undefined;
  const db = connect(stack.endpoints.databaseUrl, { max: 2 });
  try {
    if (stack.endpoints.uiUrl) opts.log(`Temporal web UI: ${stack.endpoints.uiUrl}`);
    if (signal.aborted) throw new InterruptedError(await whenAborted(signal), 'stopped before the sweep was submitted');
    client = await connectClient(stack.endpoints);
    const submitted = await submitSweep(db, client, spec);
    opts.log(`sweep ${submitted.sweepId}: ${submitted.runs} runs, ${opts.workers} training slots`);
    const display = new StatusDisplay();
    let interrupted = false;
    const waiting = waitForSweep(db, client, submitted.sweepId, (s) => interrupted || display.update(s));
    waiting.catch(() => undefined);
    const first = await Promise.race([waiting, whenAborted(signal), workers.slots.failed]);
    display.stop();
    if (first instanceof Error) {
      // No slot can train (a backend that cannot load): waiting would be forever.
      interrupted = true;
      opts.log(`cancelling sweep ${submitted.sweepId}: no training slot could start ...`);
      await cancelSweep(db, client, submitted.sweepId, 15_000);
      throw first;
    }
    if (typeof first === 'string') {
      // Cancelled as `sparsity cancel` does: the runs stop at their next heartbeat, what they stored stays.
      interrupted = true;
      opts.log(`cancelling sweep ${submitted.sweepId} ...`);
      const st = await cancelSweep(db, client, submitted.sweepId, 15_000);
      throw new InterruptedError(
        first,
        `sweep ${submitted.sweepId} ${st.status}: ${st.runs.completed} of ${st.runs.total} runs completed; what they stored is kept (SPARSITY_HOME=${home} sparsity status ${submitted.sweepId})`,
      );
    }
    const final = first;

    const curves = await finalPoints(db, submitted.sweepId);
    const fits = await listFits(db, submitted.sweepId);
    if (!opts.json) {
      opts.out(`\nSweep ${submitted.sweepId}: ${final.status} (${final.message ?? ''})\n\nFinal point of each run:`);
      printTable(curves, opts.out);
      opts.out('\nFitted laws:');
      const views = fits.map((f) => ({ law: f.law, group: f.group_key, status: f.status, reason: f.reason, params: f.params, mse: f.mse, r2: f.r2, aic: f.aic, heldoutError: f.heldout_error, note: f.message, n: f.n }));
      printTable(
        views.filter((f) => f.law !== JOURNEY_LAW).map((f) => ({ law: f.law, group: f.group, status: f.status, params: paramsText(f), r2: f.r2 })),
        opts.out,
      );
      opts.out('Only `ok` fits are known laws; the others carry their status before their numbers. Why they are not ok:');
      for (const f of views) if (f.law !== JOURNEY_LAW && f.reason) opts.out(`  ${f.law} [${f.group}] ${f.status}: ${f.reason}`);
      const journey = journeyLines(views);
      if (journey.length > 0) opts.out('');
      for (const l of journey) opts.out(l);
      opts.out(`\nQuery it: sparsity sql "select * from activation_curves where sweep_id = '${submitted.sweepId}' limit 10"`);
    } else {
      opts.log(`sweep ${submitted.sweepId}: ${final.status}`);
    }
    const summary: DemoSummary = {
      sweepId: submitted.sweepId,
      runs: { total: final.runs.total, completed: final.runs.completed },
      fits: fits.map((f) => ({ law: f.law, group: f.group_key, params: f.params, mse: f.mse, status: f.status, reason: f.reason })),
    };
    if (opts.json) opts.out(summary);
    return summary;
  } finally {
    await db.destroy();
    await client?.connection.close();
    opts.log('stopping workers, Temporal and PostgreSQL ...');
    await workers.stop();
    await stack.stop();
    removeEmbeddedEndpoints(home);
  }
}
