// `sparsity demo`: the whole product in one command, on the embedded stack.
import type { Client } from '@temporalio/client';
import { connect, type Db } from '../db/connect';
import { connectClient } from '../workers/connections';
import { readEmbeddedEndpoints, removeEmbeddedEndpoints, writeEmbeddedEndpoints } from './endpoints';
import { sparsityHome } from './paths';
import { prepareNativeBackend } from '../stack/nativeBackend';
import { startLocalWorkers, startStack } from './stack';
import { readSweepFile, UsageError } from './sweepFile';
import { submitSweep, waitForSweep } from './sweeps';
import { StatusDisplay, printTable } from './display';

export interface DemoSummary {
  sweepId: string;
  runs: { total: number; completed: number };
  fits: { law: string; group: string; params: Record<string, number>; mse: number | null; status: string }[];
}

async function curveSummary(db: Db, sweepId: string) {
  return db
    .selectFrom('final_points')
    .select(['label', 'activation', 'd_model', 'n_layers', 'pruning', 'last_step', 'val_loss', 'metric', 'activation_ratio', 'dead_ratio', 'avg_nonzero_params'])
    .where('sweep_id', '=', sweepId)
    .orderBy('run_id')
    .execute();
}

export async function runDemo(opts: {
  file: string;
  workers: number;
  json: boolean;
  log: (m: string) => void;
  out: (v: unknown) => void;
}): Promise<DemoSummary> {
  const spec = readSweepFile(opts.file);
  const home = sparsityHome();
  if (readEmbeddedEndpoints(home)) {
    throw new UsageError(`a sparsity dev stack is running for ${home}: stop it, or use \`sparsity submit ${opts.file} --wait\``);
  }
  await prepareNativeBackend();
  const stack = await startStack({ home, log: opts.log });
  writeEmbeddedEndpoints(stack.endpoints, home);
  const workers = startLocalWorkers(stack.endpoints, { taskQueue: spec.taskQueue, slots: opts.workers });
  let client: Client | undefined;
  const db = connect(stack.endpoints.databaseUrl, { max: 2 });
  try {
    if (stack.endpoints.uiUrl) opts.log(`Temporal web UI: ${stack.endpoints.uiUrl}`);
    client = await connectClient(stack.endpoints);
    const submitted = await submitSweep(db, client, spec);
    opts.log(`sweep ${submitted.sweepId}: ${submitted.runs} runs, ${opts.workers} training slots`);
    const display = new StatusDisplay();
    const final = await waitForSweep(db, client, submitted.sweepId, (s) => display.update(s));
    display.stop();

    const curves = await curveSummary(db, submitted.sweepId);
    const fits = await db.selectFrom('fits').selectAll().where('sweep_id', '=', submitted.sweepId).orderBy('law').orderBy('group_key').execute();
    if (!opts.json) {
      opts.out(`\nSweep ${submitted.sweepId}: ${final.status} (${final.message ?? ''})\n\nFinal point of each run:`);
      printTable(curves, opts.out);
      opts.out('\nFitted laws:');
      printTable(
        fits.map((f) => ({ law: f.law, group: f.group_key, status: f.status, params: f.params, mse: f.mse, r2: f.r2 })),
        opts.out,
      );
      opts.out(`\nQuery it: sparsity sql "select * from activation_curves where sweep_id = '${submitted.sweepId}' limit 10"`);
    } else {
      opts.log(`sweep ${submitted.sweepId}: ${final.status}`);
    }
    const summary: DemoSummary = {
      sweepId: submitted.sweepId,
      runs: { total: final.runs.total, completed: final.runs.completed },
      fits: fits.map((f) => ({ law: f.law, group: f.group_key, params: f.params, mse: f.mse, status: f.status })),
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
