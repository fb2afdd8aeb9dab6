// Commands over stored results and external data: fit, fit-points, report, bench.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/connect';
import type { Endpoints } from '../workers/connections';
import { createFitSweep } from '../activities/fitSweep';
import { LAW_NAMES, SPARSE_PRESETS, fitPointsFromFile, fitResultJson } from '../analysis';
import { requireSweep } from '../client/sweeps';
import { fitLines, journeyLines } from './fitDisplay';
import { UsageError } from '../domain/errors';
import { BACKENDS } from '../engine/types';
import type { BackendName } from '../engine/types';
import { prepareNativeBackend } from '../stack/nativeBackend';
import { positiveNumberArg, slotsArg, wholeNumberArg } from './args';
import { interruptReceived, interruptSignal, InterruptedError } from './interrupt';

export interface CommandContext {
  out: (v: unknown) => void;
  err: (m: string) => void;
  withServices: <T>(need: { temporal: boolean }, fn: (s: { db: Db; client?: Client; endpoints: Endpoints }) => Promise<T>) => Promise<T>;
}


/**
 * Creates an output directory one component at a time (Node 20's recursive mkdir can spin forever on
 * paths such as /proc/x); an existing file, or a place nothing can be created, is a UsageError naming it.
 */
export function makeOutputDir(dir: string, flag: string): void {
  const target = path.resolve(dir);
  const missing: string[] = [];
  let at = target;
  while (!existsSync(at)) {
    missing.unshift(at);
    at = path.dirname(at);
  }
  if (!statSync(at).isDirectory()) throw new UsageError(`${flag} ${dir}: ${at} is a file, not a directory`);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      throw new UsageError(`${flag} ${dir}: cannot create ${d}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
}

/** `--curve-from` (or `flag`): a fraction of each run's steps in [0, 1). */
const curveFromFlag = (flag: string) => (text: string): number => {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0 || v >= 1) throw new UsageError(`${flag}: a fraction of each run's steps in [0, 1), e.g. 0.25 (got ${JSON.stringify(text)})`);
  return v;
};
const curveFromArg = curveFromFlag('--curve-from');

export function registerAnalysisCommands(program: Command, ctx: CommandContext): void {
  program
    .command('fit <sweepId>')
    .description("fit every applicable law to a sweep's stored runs and store the results in `fits`")
    .option('--curve-from <fraction>', "curve laws: each run's points from this fraction of its steps on (skip the transient from initialisation; default 0)", curveFromArg)
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { json?: boolean; curveFrom?: number }) => {
      await ctx.withServices({ temporal: false }, async ({ db }) => {
        await requireSweep(db, sweepId);
        const fits = await createFitSweep(db)({ sweepId, curveFrom: o.curveFrom });
        if (o.json) ctx.out(fits);
        else if (fits.length === 0) ctx.out('no law has enough completed runs to fit');
        else {
          const views = fits.map((f) => ({ ...f, group: f.groupKey }));
          for (const l of fitLines(views)) ctx.out(l);
          const journey = journeyLines(views);
          if (journey.length > 0) ctx.out('');
          for (const l of journey) ctx.out(l);
          const notOk = fits.filter((f) => f.status !== 'ok').length;
          ctx.out(`\n${fits.length - notOk} of ${fits.length} fits ok; only ok fits are known laws (statuses: ok, not-identified, degenerate, failed)`);
        }
      });
    });

  program
    .command('fit-points <file>')
    .description('fit a law to published or external data: JSON of named arrays, or CSV with a header')
    .addOption(new Option('--law <name>', 'law to fit').choices([...LAW_NAMES]).makeOptionMandatory())
    .option('--x <col>', 'x column (curve laws)')
    .option('--y <col>', 'y column (chinchilla, sparse-chinchilla: the loss, default "loss")')
    .option('--x-scale <k>', 'multiply x by k (default 1e-9 for token_passed: billions of tokens); chinchilla, sparse-chinchilla: multiplies N', positiveNumberArg('--x-scale'))
    .option('--n <col>', 'chinchilla: parameter-count column (default "Model Size"); sparse-chinchilla: non-zero parameters (default "N")')
    .option('--d <col>', 'chinchilla: token column (default "D", else Training FLOP / 6N); sparse-chinchilla: data column (default "D")')
    .option('--s <col>', 'sparse-chinchilla: sparsity column, fraction in [0, 1) (default "S")')
    .addOption(new Option('--preset <name>', "sparse-chinchilla: column mapping of Frantar et al.'s T5 file: S = sparsity, N = 24·12·768²·scale·(1−S)/1e6, D = steps/1e5, L = val-loss").choices([...SPARSE_PRESETS]))
    .option('--drop-highest <k>', 'chinchilla: drop the k highest losses first (default 0; Epoch\'s procedure: 5); dropped rows are listed', wholeNumberArg('--drop-highest'))
    .option('--bootstrap <B>', 'bootstrap replicates for the confidence intervals (default 200; sparse-chinchilla 100; 0 = none / asymptotic)', wholeNumberArg('--bootstrap'))
    .option('--holdout <f>', 'also fit on all but the last fraction f (chinchilla: the largest models) and report the error predicting it', positiveNumberArg('--holdout'))
    .option('--json', 'one line of JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ sparsity fit-points 0.1b_relu.json --law relu-logspace --json\n  $ sparsity fit-points epoch-svg-extracted.csv --law chinchilla --drop-highest 5\n  $ sparsity fit-points t5-data.csv --law sparse-chinchilla --preset frantar-t5\n\nExit status: 0 ok, 1 when the fit is not ok (status and reason printed), 2 for bad input.')
    .action(async (file: string, o: { law: string; x?: string; y?: string; xScale?: number; n?: string; d?: string; s?: string; preset?: string; dropHighest?: number; bootstrap?: number; holdout?: number; json?: boolean }) => {
      let result;
      try {
        result = await fitPointsFromFile(file, {
          law: o.law,
          x: o.x,
          y: o.y,
          xScale: o.xScale,
          n: o.n,
          d: o.d,
          s: o.s,
          preset: o.preset,
          dropHighest: o.dropHighest,
          bootstrap: o.bootstrap,
          holdout: o.holdout,
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (o.json) ctx.out(fitResultJson(result));
      else {
        ctx.out(`${result.law}: ${result.formula}`);
        ctx.out(`  status: ${result.status}${result.reason ? ` (${result.reason})` : ''}`);
        ctx.out(`  optimizer: ${result.converged ? 'converged' : 'NOT converged'} after ${result.iterations} iterations: ${result.message}`);
        for (const [k, u] of Object.entries(result.units)) ctx.out(`  ${k}: ${u}`);
        const ciLabel = result.ciMethod === 'none' ? 'no CI' : `${(result.ciLevel * 100).toFixed(0)}% CI (${result.ciMethod}${result.bootstrap ? `, ${result.bootstrap.succeeded}/${result.bootstrap.requested} resamples of ${result.bootstrap.unit}` : ''})`;
        for (const [k, v] of Object.entries(result.params)) {
          const ci = result.ci[k];
          const flag = result.flags[k] ? `  [${result.flags[k]}]` : '';
          const ciText = ci && ci.every(Number.isFinite) ? `[${ci[0].toPrecision(4)}, ${ci[1].toPrecision(4)}]` : '[not available]';
          ctx.out(`  ${k.padEnd(10)} ${Number.isFinite(v) ? v.toPrecision(5).padStart(12) : 'not identified'.padStart(12)}   ${ciLabel} ${ciText}${flag}`);
        }
        ctx.out(`  n=${result.n}  MAE=${result.mae.toExponential(3)}  MSE=${result.mse.toExponential(3)}  R²=${result.r2.toFixed(4)}  objective=${result.objective.toExponential(4)}`);
        if (result.droppedRows.length > 0) {
          ctx.out(`  dropped ${result.droppedRows.length} rows:`);
          for (const r of result.droppedRows) ctx.out(`    row ${r.row}: ${r.reason}  ${JSON.stringify(r.values)}`);
        } else ctx.out('  dropped: none');
        if (result.ignoredColumns.length > 0) ctx.out(`  ignored columns: ${result.ignoredColumns.map((c) => JSON.stringify(c)).join(', ')}`);
        const h = result.outOfSample;
        if (h) ctx.out(`  out of sample: fit on ${h.trainN}, predict ${h.testN}: MAE=${h.mae.toExponential(3)}  RMSE=${h.rmse.toExponential(3)}  MAPE=${(h.mape * 100).toFixed(2)}%`);
      }
      for (const w of result.warnings) ctx.err(`warning: ${w}`);
      if (result.status !== 'ok') process.exitCode = 1;
    });

  program
    .command('report <sweepId>')
    .description('write an HTML report with SVG and PNG charts of a sweep, with its fits (fits.json) and every eval point (points.csv)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--curve-from <fraction>', "curve laws: each run's points from this fraction of its steps on (as `fit --curve-from`)", curveFromArg)
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { out: string; json?: boolean; curveFrom?: number }) => {
      // Checked before any fitting: a bad --out must not cost the minutes the fits take.
      makeOutputDir(o.out, '--out');
      await ctx.withServices({ temporal: false }, async ({ db }) => {
        await requireSweep(db, sweepId);
        const { writeSweepOutputs } = await import('../client/sweepOutputs');
        const r = await writeSweepOutputs(db, sweepId, o.out, { log: ctx.err, requireRuns: true, curveFrom: o.curveFrom });
        if (o.json) ctx.out({ sweepId, out: path.resolve(o.out), files: r.files });
        else ctx.out(path.resolve(o.out, 'index.html'));
      });
    });

  program
    .command('study <sweepFiles>')
    .description('train several sweeps on local training slots under one time budget and write each one\'s report, fits.json and points.csv (docs/studies/)')
    .requiredOption('--out <dir>', 'one folder per sweep is written here')
    .option('--slots <n>', 'training slots (processes)', slotsArg('--slots', 1), 2)
    .option('--budget <s>', 'wall-clock seconds for training, fitting and reports; what is still training then is cancelled and reported as it stands', wholeNumberArg('--budget', 1), 5400)
    .option('--curve-from <fraction>', "curve fits in the reports from this fraction of each run's steps on (as `report --curve-from`)", curveFromArg)
    .addOption(new Option('--backend <b>', 'the slots\' backend (default: SPARSITY_BACKEND, else the native one, installed on first use, else wasm)').choices(BACKENDS))
    .option('--json', 'one line of JSON on stdout')
    .addHelpText('after', '\n<sweepFiles>: a folder (every *.yaml in it, by name) or a comma-separated list; the sweeps go in in that order.\nState (Temporal, Postgres, checkpoints) is kept in $SPARSITY_HOME: `sparsity status|runs|sql` read it afterwards. Refused while `sparsity dev` runs on it.')
    .action(async (files: string, o: { out: string; slots: number; budget: number; backend?: BackendName; json?: boolean; curveFrom?: number }) => {
      const { checkNoDevStack, checkStudyBudget, readStudyFiles, trainStudy } = await import('../bench/study');
      checkStudyBudget(o.budget, '--budget');
      const study = readStudyFiles(files, '<sweepFiles>');
      makeOutputDir(o.out, '--out');
      const { sparsityHome } = await import('../stack/paths');
      const stateDir = sparsityHome(process.env);
      checkNoDevStack(stateDir, 'study');
      await prepareNativeBackend({ flag: o.backend });
      // The first Ctrl-C ends the study as its budget would: what trains is cancelled, what completed is reported.
      const signal = interruptSignal();
      const r = await trainStudy(study, { curveFrom: o.curveFrom, slots: o.slots, backend: o.backend, stateDir, budgetMs: o.budget * 1000, outDir: o.out, log: ctx.err, signal });
      if (o.json) ctx.out(r);
      else for (const s of r.sweeps) ctx.out(`${s.name.padEnd(28)} ${s.status.padEnd(13)} ${s.completed}/${s.total} runs  ${s.seconds.toFixed(0)} s  ${s.out ?? s.outError ?? ''}`);
      const sig = interruptReceived();
      if (sig) throw new InterruptedError(sig, `the sweeps still training were cancelled; the outputs of each sweep are in ${path.resolve(o.out)}, the state in ${stateDir}`);
      if (r.slotsFailed) throw new Error(`${r.slotsFailed}; the sweeps still training were cancelled`);
      if (r.budgetRanOut || r.sweeps.some((s) => s.status !== 'completed')) process.exitCode = 1;
    });

  const bench = program.command('bench').description('benchmarks, measured side by side in one run');
  bench
    .command('train')
    .description('the reference Transformer: our engine against PyTorch eager on this CPU (--device cuda: on a GPU, against PyTorch CUDA, also at dModel 1024 / 8 layers / seq 512)')
    .option('--steps <n>', 'timed steps (default 5 on CPU, 10 on CUDA)', wholeNumberArg('--steps', 1))
    .option('--threads <n>', 'threads for both engines', wholeNumberArg('--threads', 1), 2)
    .option('--no-torch', 'skip PyTorch')
    .addOption(new Option('--backend <b>', 'our backend (default: the fastest available)').choices(BACKENDS))
    .addOption(new Option('--device <d>', 'cpu, or cuda: the GPU build of the native backend against PyTorch CUDA').choices(['cpu', 'cuda']).default('cpu'))
    .option('--gpu <i>', 'cuda: the GPU index (nvidia-smi) to measure on', wholeNumberArg('--gpu'), 0)
    .addOption(new Option('--torch-tf32 <mode>', "cuda: PyTorch's torch.backends.cuda.matmul.allow_tf32 (match = as ours)").choices(['match', 'on', 'off', 'default']).default('match'))
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { steps?: number; threads: number; torch: boolean; backend?: BackendName; device: 'cpu' | 'cuda'; gpu: number; torchTf32: 'match' | 'on' | 'off' | 'default'; json?: boolean }) => {
      if (o.device === 'cuda') {
        if (o.backend && o.backend !== 'tensorflow') throw new UsageError(`--device cuda with --backend ${o.backend}: only the tensorflow backend trains on GPUs`);
        const { prepareGpuSlots } = await import('../stack/gpuSlots');
        const { GpuSetupError } = await import('../stack/gpuPlan');
        try {
          // Installs the GPU build on first use, exactly as a GPU worker does.
          await prepareGpuSlots(String(o.gpu), { onProgress: ctx.err });
        } catch (e) {
          if (e instanceof GpuSetupError) throw new GpuSetupError(`bench train --device cuda --gpu ${o.gpu}: ${e.message.replace(/^--gpus \S+: /, '')}`);
          throw e;
        }
        const { benchTrainCuda } = await import('../bench/trainCuda');
        const r = await benchTrainCuda({ steps: o.steps, gpu: o.gpu, torchPython: o.torch ? undefined : null, torchTf32: o.torchTf32, log: o.json ? () => undefined : ctx.err });
        ctx.out(o.json ? r : JSON.stringify(r, null, 2));
        if (r.errors.length > 0) process.exitCode = 1;
        return;
      }
      const { benchTrain } = await import('../bench/train');
      await prepareNativeBackend({ flag: o.backend });
      const r = await benchTrain({ steps: o.steps ?? 5, threads: o.threads, torch: o.torch, json: o.json, backend: o.backend });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
  bench
    .command('gpu')
    .description('the check for a GPU host (8 minutes on a fresh one): installs the GPU backend and PyTorch CUDA, checks the tensors are on the GPU, trains a 2-run sweep through Temporal + Postgres on the GPU, runs bench train --device cuda; one JSON line. --study: then trains sweep files on the GPU and writes their reports')
    .option('--gpus <list>', 'all, or GPU indices like 0,1: one sweep slot per GPU; the benchmark uses the first', 'all')
    .option('--out <file>', 'also write the JSON line to this file (written once before --study starts, again at the end)')
    .option('--dry-run', 'plan only: read the host, plan both installs, check prerequisites and --study files; download nothing')
    .option('--budget <s>', 'seconds for the whole check', wholeNumberArg('--budget', 1), 480)
    .option('--steps <n>', 'timed steps per benchmark measurement', wholeNumberArg('--steps', 1), 10)
    .option('--study <files>', 'after the check, train these sweeps on the GPU slots: a directory (every *.yaml in it, by name), one file or a comma-separated list; all validated first; state kept in $SPARSITY_HOME')
    .option('--study-budget <s>', 'wall-clock seconds for the study (training, cancelling, fits and reports; default 360); sweeps still training then are cancelled and what completed is reported', positiveNumberArg('--study-budget'))
    .option('--study-out <dir>', "one folder per sweep: report (as `sparsity report`), fits.json (as `sparsity fit --json`), points.csv (default: <dir of --out>/studies, else $SPARSITY_HOME/studies)")
    .option('--study-archive <file>', '.tar.gz of --study-out, re-packed after each sweep (a device hands back only a few files)')
    .option('--study-slots-per-gpu <n>', 'training processes sharing each GPU in the study (default 4)', wholeNumberArg('--study-slots-per-gpu', 1))
    .option('--study-curve-from <fraction>', "the study's curve fits from this fraction of each run's steps on (as `report --curve-from`)", curveFromFlag('--study-curve-from'))
    .option('--study-only', 'keep of the check only what the study needs: GPU backend install and device check (no PyTorch, no 2-run sweep, no benchmark)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sparsity bench gpu --out bench-gpu.json\n  $ sparsity bench gpu --study-only --study examples/studies/gpu --study-budget 360 --out out/bench-gpu.json --study-archive out/studies.tar.gz\n  $ sparsity bench gpu --dry-run --study examples/studies/gpu/sparsing-law.yaml,examples/studies/gpu/width-depth.yaml\n\nExit status: 0 every phase passed, 1 a phase failed or ran out of time (the line says which), 2 this host cannot be served (no GPU, driver too old, bad --gpus) or a --study file or flag is wrong.',
    )
    .action(async (o: { gpus: string; out?: string; dryRun?: boolean; budget: number; steps: number; study?: string; studyBudget?: number; studyOut?: string; studyArchive?: string; studySlotsPerGpu?: number; studyOnly?: boolean; studyCurveFrom?: number }) => {
      if (o.out && existsSync(o.out) && statSync(o.out).isDirectory()) throw new UsageError(`--out ${o.out}: a directory; name the file for the JSON line, e.g. ${path.join(o.out, 'bench-gpu.json')}`);
      const { benchGpu, writeResult } = await import('../bench/gpu');
      // The study's outputs go beside the JSON line unless told otherwise: one folder to carry away.
      const studyOut = o.studyOut ?? (o.study !== undefined && o.out ? path.join(path.dirname(o.out), 'studies') : undefined);
      const r = await benchGpu({
        gpus: o.gpus,
        dryRun: o.dryRun,
        budgetSeconds: o.budget,
        steps: o.steps,
        study: o.study,
        studyBudgetSeconds: o.studyBudget,
        studyOut,
        studyArchive: o.studyArchive,
        studySlotsPerGpu: o.studySlotsPerGpu,
        studyCurveFrom: o.studyCurveFrom,
        studyOnly: o.studyOnly,
        onPartial: o.out ? (partial) => writeResult(o.out!, partial) : undefined,
        log: (m) => ctx.err(`bench gpu: ${m}`),
      });
      if (o.out) writeResult(o.out, r);
      ctx.out(r);
      if (r.refused !== undefined) {
        ctx.err(`bench gpu: ${r.refused}`);
        process.exitCode = 2;
      } else if (!r.ok) process.exitCode = 1;
    });
  bench
    .command('ppl-noise <sweepFile>')
    .description("how much each metric (PPL-1% above all) moves when only the validation set changes: trains runs of the sweep in-process, measures on disjoint validation sets of each size")
    .option('--runs <list>', 'run indices of the sweep (default: the first run of each activation)')
    .option('--steps <n>', "training steps before measuring (default: the run's own)", wholeNumberArg('--steps', 1))
    .option('--val-sizes <list>', 'validation sizes (windows, or examples for the MLP)', '16,64,256')
    .option('--subsets <k>', 'disjoint validation sets per size', wholeNumberArg('--subsets', 1), 6)
    .addOption(new Option('--backend <b>', 'our backend (default: the fastest available)').choices(BACKENDS))
    .option('--json', 'one line of JSON on stdout')
    .action(async (file: string, o: { runs?: string; steps?: number; valSizes: string; subsets: number; backend?: BackendName; json?: boolean }) => {
      const list = (flag: string, text: string): number[] =>
        text.split(',').map((x) => {
          const n = Number(x.trim());
          if (x.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`${flag}: expected a comma-separated list of non-negative integers (got ${JSON.stringify(text)})`);
          return n;
        });
      const { readSweepFile } = await import('../client/sweepFile');
      const spec = readSweepFile(file);
      const runs = o.runs === undefined ? undefined : list('--runs', o.runs);
      const valSizes = list('--val-sizes', o.valSizes);
      await prepareNativeBackend({ flag: o.backend });
      const { benchPplNoise } = await import('../bench/pplNoise');
      const r = await benchPplNoise({ spec, runs, steps: o.steps, valSizes, subsets: o.subsets, backend: o.backend, log: o.json ? () => undefined : ctx.err });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
  bench
    .command('fit')
    .description("Chinchilla on Epoch's data, 4,500 starts: ours against scipy")
    .option('--stride <k>', 'every k-th start only (quick runs)', wholeNumberArg('--stride'), 1)
    .option('--workers <n>', 'worker threads for ours', wholeNumberArg('--workers', 1))
    .option('--skip-scipy', 'ours only')
    .option('--bootstrap-check [replicates]', "instead: Epoch's bootstrap (default 4,000 resamples, BFGS from Hoffmann's fit) against Epoch's published 95% intervals", wholeNumberArg('--bootstrap-check', 1))
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { stride: number; workers?: number; skipScipy?: boolean; bootstrapCheck?: number | boolean; json?: boolean }) => {
      if (o.bootstrapCheck !== undefined) {
        const { benchBootstrapCheck } = await import('../bench/fit');
        const r = await benchBootstrapCheck({ replicates: typeof o.bootstrapCheck === 'number' ? o.bootstrapCheck : 4000, workers: o.workers });
        ctx.out(o.json ? r : JSON.stringify(r, null, 2));
        if (!r.pass) process.exitCode = 1;
        return;
      }
      const { benchFit } = await import('../bench/fit');
      const r = await benchFit({ stride: o.stride, workers: o.workers, skipScipy: o.skipScipy, log: o.json ? () => undefined : ctx.err });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
  bench
    .command('checkpoint')
    .description('save + restore N params and two Adam moments through a checkpoint store, against cp on the same disk')
    .option('--params <n>', 'parameters (12 bytes each with the Adam moments)', wholeNumberArg('--params', 1), 100_000_000)
    .requiredOption('--store <uri>', 'checkpoint store: file:///path or s3://bucket/prefix')
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { params: number; store: string; json?: boolean }) => {
      const { benchCheckpoint } = await import('../bench/checkpoint');
      const r = await benchCheckpoint({ params: o.params, store: o.store, log: o.json ? () => undefined : ctx.err });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
  bench
    .command('orchestration')
    .description('schedule N trivial runs through Temporal + Postgres: runs/s and overhead per run')
    .option('--runs <n>', 'runs in the sweep', wholeNumberArg('--runs', 1), 1000)
    .option('--slots <n>', 'training slots', slotsArg('--slots', 1), 2)
    .option('--max-parallel <n>', 'runs in flight', wholeNumberArg('--max-parallel', 1), 16)
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { runs: number; slots: number; maxParallel: number; json?: boolean }) => {
      const { benchOrchestration } = await import('../bench/orchestration');
      const r = await benchOrchestration({ runs: o.runs, slots: o.slots, maxParallel: o.maxParallel, progress: !o.json, log: o.json ? () => undefined : ctx.err });
      ctx.out(o.json ? r : JSON.stringify(r, null, 2));
    });
}
