// Commands over stored results and external data: fit, fit-points, report, bench.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/connect';
import type { Endpoints } from '../workers/connections';
import { createFitSweep } from '../activities/fitSweep';
import { loadSweepData, storeFits } from '../db/fits';
import { fitSweepData, reportInput } from '../analysis/sweepFits';
import { runProvenance } from '../db/provenance';
import { describeDevice } from '../engine/deviceInfo';
import { LAW_NAMES, fitPointsFromFile, fitResultJson, renderReport } from '../analysis';
import { requireSweep } from '../client/sweeps';
import { UsageError } from '../domain/errors';
import { BACKENDS } from '../engine/types';
import type { BackendName } from '../engine/types';

export interface CommandContext {
  out: (v: unknown) => void;
  err: (m: string) => void;
  intArg: (name: string) => (v: string) => number;
  withServices: <T>(need: { temporal: boolean }, fn: (s: { db: Db; client?: Client; endpoints: Endpoints }) => Promise<T>) => Promise<T>;
}

const numArg = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number (got ${JSON.stringify(v)})`);
  return n;
};

const fmtParams = (p: Record<string, number>) =>
  Object.entries(p)
    .map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`)
    .join(' ');

export function registerAnalysisCommands(program: Command, ctx: CommandContext): void {
  program
    .command('fit <sweepId>')
    .description("fit every applicable law to a sweep's stored runs and store the results in `fits`")
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { json?: boolean }) => {
      await ctx.withServices({ temporal: false }, async ({ db }) => {
        await requireSweep(db, sweepId);
        const fits = await createFitSweep(db)({ sweepId });
        if (o.json) ctx.out(fits);
        else if (fits.length === 0) ctx.out('no law has enough completed runs to fit');
        else for (const f of fits) ctx.out(`${f.law}  ${f.groupKey}  ${f.status}  ${fmtParams(f.params)}  mse=${f.mse?.toExponential(3)}${Object.keys(f.flags).length ? `  flags=${JSON.stringify(f.flags)}` : ''}`);
      });
    });

  program
    .command('fit-points <file>')
    .description('fit a law to published or external data: JSON of named arrays, or CSV with a header')
    .addOption(new Option('--law <name>', 'law to fit').choices([...LAW_NAMES]).makeOptionMandatory())
    .option('--x <col>', 'x column (curve laws)')
    .option('--y <col>', 'y column')
    .option('--x-scale <k>', 'multiply x by k (default 1e-9 for token_passed: billions of tokens)', numArg('--x-scale'))
    .option('--n <col>', 'chinchilla: parameter-count column (default "Model Size")')
    .option('--d <col>', 'chinchilla: token column (default Training FLOP / 6N)')
    .option('--drop-highest <k>', 'chinchilla: drop the k highest losses first (Epoch: 5)', ctx.intArg('--drop-highest'))
    .option('--bootstrap <B>', 'bootstrap replicates for the confidence intervals', ctx.intArg('--bootstrap'))
    .option('--holdout <f>', 'also fit on all but the last fraction f (chinchilla: the largest models) and report the error predicting it', numArg('--holdout'))
    .option('--json', 'one line of JSON on stdout')
    .addHelpText('after', '\nExample:\n  $ sparsity fit-points 0.1b_relu.json --law relu-logspace --bootstrap 200 --json')
    .action(async (file: string, o: { law: string; x?: string; y?: string; xScale?: number; n?: string; d?: string; dropHighest?: number; bootstrap?: number; holdout?: number; json?: boolean }) => {
      let result;
      try {
        result = await fitPointsFromFile(file, {
          law: o.law,
          x: o.x,
          y: o.y,
          xScale: o.xScale,
          n: o.n,
          d: o.d,
          dropHighest: o.dropHighest,
          bootstrap: o.bootstrap,
          holdout: o.holdout,
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (o.json) ctx.out(fitResultJson(result));
      else {
        ctx.out(`${result.law}: ${result.formula}   (${result.status}${result.message ? `: ${result.message}` : ''})`);
        for (const [k, v] of Object.entries(result.params)) {
          const ci = result.ci[k];
          const flag = result.flags[k] ? `  [${result.flags[k]}]` : '';
          ctx.out(`  ${k.padEnd(10)} ${v.toPrecision(5).padStart(12)}   ${(result.ciLevel * 100).toFixed(0)}% CI [${ci?.[0]?.toPrecision(4)}, ${ci?.[1]?.toPrecision(4)}]${flag}`);
        }
        ctx.out(`  n=${result.n}  MAE=${result.mae.toExponential(3)}  MSE=${result.mse.toExponential(3)}  R²=${result.r2.toFixed(4)}  objective=${result.objective.toExponential(4)}`);
        const h = result.outOfSample;
        if (h) ctx.out(`  out of sample: fit on ${h.trainN}, predict ${h.testN}: MAE=${h.mae.toExponential(3)}  RMSE=${h.rmse.toExponential(3)}  MAPE=${(h.mape * 100).toFixed(2)}%`);
      }
      if (result.status !== 'ok') process.exitCode = 1;
    });

  program
    .command('report <sweepId>')
    .description('write an HTML report with SVG and PNG charts of a sweep')
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { out: string; json?: boolean }) => {
      await ctx.withServices({ temporal: false }, async ({ db }) => {
        await requireSweep(db, sweepId);
        const data = await loadSweepData(db, sweepId);
        if (data.runs.length === 0) throw new UsageError(`sweep ${sweepId} has no completed runs to report`);
        ctx.err(`fitting ${data.runs.length} runs ...`);
        const fits = await fitSweepData(data, { workers: 2 });
        await storeFits(db, sweepId, fits);
        mkdirSync(o.out, { recursive: true });
        const provenance = (await runProvenance(db, sweepId)).map((r) => ({ ...r, device: describeDevice(r.device) }));
        const { files } = await renderReport({ ...reportInput(data, fits), provenance }, o.out);
        if (o.json) ctx.out({ sweepId, out: path.resolve(o.out), files });
        else ctx.out(path.resolve(o.out, 'index.html'));
      });
    });

  const bench = program.command('bench').description('benchmarks, measured side by side in one run');
  bench
    .command('train')
    .description('the reference Transformer: our engine against PyTorch eager on this CPU')
    .option('--steps <n>', 'timed steps', ctx.intArg('--steps'), 5)
    .option('--threads <n>', 'threads for both engines', ctx.intArg('--threads'), 2)
    .option('--no-torch', 'skip PyTorch')
    .addOption(new Option('--backend <b>', 'our backend (default: the fastest available)').choices(BACKENDS))
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { steps: number; threads: number; torch: boolean; backend?: BackendName; json?: boolean }) => {
      const { benchTrain } = await import('../bench/train');
      const r = await benchTrain({ steps: o.steps, threads: o.threads, torch: o.torch, json: o.json, backend: o.backend });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
  bench
    .command('fit')
    .description("Chinchilla on Epoch's data, 4,500 starts: ours against scipy")
    .option('--stride <k>', 'every k-th start only (quick runs)', ctx.intArg('--stride'), 1)
    .option('--workers <n>', 'worker threads for ours', ctx.intArg('--workers'))
    .option('--skip-scipy', 'ours only')
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { stride: number; workers?: number; skipScipy?: boolean; json?: boolean }) => {
      const { benchFit } = await import('../bench/fit');
      const r = await benchFit({ stride: o.stride, workers: o.workers, skipScipy: o.skipScipy, log: o.json ? () => undefined : ctx.err });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
  bench
    .command('orchestration')
    .description('schedule N trivial runs through Temporal + Postgres: runs/s and overhead per run')
    .option('--runs <n>', 'runs in the sweep', ctx.intArg('--runs'), 1000)
    .option('--slots <n>', 'training slots', ctx.intArg('--slots'), 2)
    .option('--max-parallel <n>', 'runs in flight', ctx.intArg('--max-parallel'), 16)
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { runs: number; slots: number; maxParallel: number; json?: boolean }) => {
      const { benchOrchestration } = await import('../bench/orchestration');
      const r = await benchOrchestration({ runs: o.runs, slots: o.slots, maxParallel: o.maxParallel, progress: !o.json, log: o.json ? () => undefined : ctx.err });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
}
