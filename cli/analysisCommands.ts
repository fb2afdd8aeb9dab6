// Commands over stored results and external data: fit, fit-points, report, bench.
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/connect';
import type { Endpoints } from '../workers/connections';
import { createFitSweep } from '../activities/fitSweep';
import { requireSweep } from './sweeps';

export interface CommandContext {
  out: (v: unknown) => void;
  err: (m: string) => void;
  intArg: (name: string) => (v: string) => number;
  withServices: <T>(need: { temporal: boolean }, fn: (s: { db: Db; client?: Client; endpoints: Endpoints }) => Promise<T>) => Promise<T>;
}

export function registerAnalysisCommands(program: Command, ctx: CommandContext): void {
  program
    .command('fit <sweepId>')
    .description("fit every applicable law to a sweep's stored runs and store the results in `fits`")
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { json?: boolean }) => {
      await ctx.withServices({ temporal: false }, async ({ db }) => {
        await requireSweep(db, sweepId);
        const fits = await createFitSweep(db)({ sweepId });
        ctx.out(o.json ? fits : fits.map((f) => `${f.law} ${f.groupKey}: ${f.status} ${JSON.stringify(f.params)}`).join('\n'));
      });
    });
}
