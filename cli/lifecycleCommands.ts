// Commands for a sweep's later life: retry its failed or cancelled runs, extend its grid.
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/connect';
import { extendSweep, retrySweep, type RetryableStatus } from '../client/lifecycle';
import { readSweepFile } from '../client/sweepFile';
import { waitForSweep, type SweepStatusReport } from '../client/sweeps';
import type { CommandContext } from './analysisCommands';
import { printStatus, StatusDisplay } from './display';

/** `--wait`: follow the sweep to its end; exit 1 unless it completed. */
async function follow(db: Db, client: Client, sweepId: string, json: boolean): Promise<SweepStatusReport> {
  const display = json ? undefined : new StatusDisplay();
  const final = await waitForSweep(db, client, sweepId, (s) => display?.update(s));
  display?.stop();
  if (final.status !== 'completed') process.exitCode = 1;
  return final;
}

export function registerLifecycleCommands(program: Command, ctx: CommandContext): void {
  const { out, err, withServices } = ctx;

  program
    .command('retry <sweepId>')
    .description('restart the failed and cancelled runs of a finished sweep, each from its last checkpoint')
    .option('--failed', 'retry the failed runs')
    .option('--cancelled', 'retry the cancelled runs')
    .option('--run <runId...>', 'retry only these runs (each failed or cancelled)')
    .option('--wait', 'wait until the sweep finishes, showing progress')
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { failed?: boolean; cancelled?: boolean; run?: string[]; wait?: boolean; json?: boolean }) => {
      const picked: RetryableStatus[] = [...(o.failed ? (['failed'] as const) : []), ...(o.cancelled ? (['cancelled'] as const) : [])];
      const statuses: RetryableStatus[] = picked.length > 0 ? picked : ['failed', 'cancelled'];
      await withServices({ temporal: true }, async ({ db, client }) => {
        const c = client as Client;
        const r = await retrySweep(db, c, sweepId, { statuses, runIds: o.run });
        err(`retrying ${r.runs.length} run(s) of ${sweepId} in workflow ${r.workflowId}`);
        const final = o.wait ? await follow(db, c, sweepId, Boolean(o.json)) : undefined;
        if (o.json) out({ sweepId, workflowId: r.workflowId, runs: r.runs, ...(final ? { status: final.status, counts: final.runs } : {}) });
        else {
          out(sweepId);
          if (final) printStatus(final, err);
        }
      });
    });

  program
    .command('extend <sweepId> <file>')
    .description('add grid values to a finished sweep: the file is the sweep with grid values added; only the new runs train')
    .option('--no-reuse', 'train every new run, even one completed in another sweep with the same configuration and code')
    .option('--wait', 'wait until the sweep finishes, showing progress')
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, file: string, o: { reuse: boolean; wait?: boolean; json?: boolean }) => {
      const spec = readSweepFile(file);
      await withServices({ temporal: true }, async ({ db, client }) => {
        const c = client as Client;
        const r = await extendSweep(db, c, sweepId, spec, { reuse: o.reuse });
        err(`extended ${sweepId}: ${r.added} new run(s)${r.reused ? ` (${r.reused} reused)` : ''}, ${r.total} in all; workflow ${r.workflowId}`);
        const final = o.wait ? await follow(db, c, sweepId, Boolean(o.json)) : undefined;
        if (o.json) out({ sweepId, workflowId: r.workflowId, added: r.added, reused: r.reused, runs: r.total, ...(final ? { status: final.status, counts: final.runs } : {}) });
        else {
          out(sweepId);
          if (final) printStatus(final, err);
        }
      });
    });
}
