// `sparsity`: the command line. Data goes to stdout (one JSON line with --json),
// progress and logs to stderr; exit 0 ok, 1 failed, 2 bad usage or input.
import { Command, CommanderError, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { BACKENDS } from '../engine/types';
import { checkStoreUri } from '../stores';
import { registerGcCommand } from './gcCommand';
import type { BackendName } from '../engine/types';
import { connect, migrateToLatest, type Db } from '../db/connect';
import { connectClient, type Endpoints } from '../workers/connections';
import { runOrchestrationWorker, runTrainingSlot, forkTrainingSlots, connectionsNeeded, DEFAULT_DRAIN_TIMEOUT_SECONDS } from '../workers/worker';
import { codeProvenance } from '../workers/provenance';
import { UsageError } from '../domain/errors';
import { readSweepFile } from '../client/sweepFile';
import { checkpointStoreWarning } from '../domain/feasibility';
import { NoServiceError, readEmbeddedEndpoints, redactUrl, removeEmbeddedEndpoints, resolveEndpoints, writeEmbeddedEndpoints } from '../stack/endpoints';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { enginePaths, projectRoot, sparsityHome } from '../stack/paths';
import { startLocalWorkers, startStack } from '../stack/stack';
import { cancelSweep, queueHasPollers, requireSweep, signalSweep, submitSweep, sweepStatus, waitForSweep, type SweepStatusReport } from '../client/sweeps';
import { printStatus, printRuns, printTable, StatusDisplay } from './display';
import { runReadOnlySql, withDatabaseUrl } from './sql';
import { registerAnalysisCommands } from './analysisCommands';
import { registerDataCommands } from './dataCommands';
import { checkData } from '../client/dataCheck';
import { registerLifecycleCommands } from './lifecycleCommands';
import { runDemo } from './demo';
import { prepareGpuSlots } from '../stack/gpuSlots';
import { prepareNativeBackend } from '../stack/nativeBackend';
import { portArg, slotsArg, wholeNumberArg } from './args';
import { installInterruptHandling, interruptSignal, InterruptedError, whenAborted } from './interrupt';

const err = (m: string) => process.stderr.write(`${m}\n`);
const out = (v: unknown) => process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`);

/** Opens what a command needs and always closes it, even on error. */
export async function withServices<T>(
  need: { temporal: boolean },
  fn: (s: { db: Db; client?: Client; endpoints: Endpoints }) => Promise<T>,
): Promise<T> {
  if (!need.temporal) {
    // Reading results needs only the database, embedded or not.
    return withDatabaseUrl(err, (databaseUrl) => withConnections({ temporalAddress: '', namespace: 'default', databaseUrl }, undefined, fn));
  }
  const endpoints = resolveEndpoints();
  let client: Client;
  try {
    client = await connectClient(endpoints);
    await client.workflowService.getSystemInfo({});
  } catch (e) {
    throw new NoServiceError(`cannot reach Temporal at ${endpoints.temporalAddress}: ${(e as Error).message.split('\n')[0]}`);
  }
  return withConnections(endpoints, client, fn);
}

async function withConnections<T>(
  endpoints: Endpoints,
  client: Client | undefined,
  fn: (s: { db: Db; client?: Client; endpoints: Endpoints }) => Promise<T>,
): Promise<T> {
  const db = connect(endpoints.databaseUrl, { max: 2 });
  try {
    try {
      await migrateToLatest(db);
    } catch (e) {
      throw new NoServiceError(`cannot reach the database at ${redactUrl(endpoints.databaseUrl)}: ${(e as Error).message.split('\n')[0]}`);
    }
    return await fn({ db, client, endpoints });
  } finally {
    await db.destroy();
    await client?.connection.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('sparsity')
    .description('Orchestrate sparsity scaling-law sweeps on Temporal, store them in Postgres, fit the laws.')
    .version((JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version, '-V, --version', 'the package version (runs record the full build: `sparsity runs <id>`)')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ sparsity demo                       # embedded stack, examples/quick.yaml, fits, stop
  $ sparsity dev --workers 2            # terminal 1: Temporal + Postgres + 2 training slots
  $ sparsity submit examples/quick.yaml --wait
  $ sparsity sql "select activation, step, activation_ratio from activation_curves limit 5"`,
    );

  program
    .command('dev')
    .description('start the embedded Temporal dev server + PostgreSQL + local workers in the foreground (Ctrl-C stops all)')
    .option('--workers <n>', 'training slots (processes)', slotsArg('--workers'), 1)
    .option('--task-queue <q>', 'task queue the local workers serve', 'sparsity')
    .option('--port <p>', 'Temporal gRPC port (1024-65535)', portArg('--port'))
    .option('--ui-port <p>', 'Temporal web UI port (1024-65535)', portArg('--ui-port'))
    .addOption(new Option('--backend <b>', 'training backend').choices(BACKENDS))
    .addOption(checkpointStoreOption())
    .action(async (o: { workers: number; taskQueue: string; port?: number; uiPort?: number; backend?: BackendName; checkpointStore: string }) => {
      await checkStoreUri(o.checkpointStore);
      if (o.port !== undefined && o.port === o.uiPort) throw new UsageError(`--port and --ui-port are both ${o.port}: the gRPC server and the web UI need a port each`);
      const home = sparsityHome();
      if (readEmbeddedEndpoints(home)) throw new UsageError(`a sparsity dev stack is already running for ${home} (see ${home}/endpoints.json)`);
      // Taken now: a Ctrl-C during start-up stops everything cleanly once it is up.
      const interrupted = interruptSignal();
      await prepareNativeBackend({ flag: o.backend });
      const stack = await startStack({ home, temporalPort: o.port, uiPort: o.uiPort, log: err });
      writeEmbeddedEndpoints(stack.endpoints, home);
      const workers = startLocalWorkers(stack.endpoints, { taskQueue: o.taskQueue, slots: o.workers, backend: o.backend, checkpointStore: o.checkpointStore });
      if (!interrupted.aborted) {
        err(`Temporal:  ${stack.endpoints.temporalAddress}`);
        if (stack.endpoints.uiUrl) err(`Web UI:    ${stack.endpoints.uiUrl}`);
        // The embedded database's local password is no secret; one from the environment is.
        err(`Database:  DATABASE_URL=${process.env.DATABASE_URL ? redactUrl(stack.endpoints.databaseUrl) : stack.endpoints.databaseUrl}`);
        err(`Workers:   ${o.workers} training slot(s) on task queue "${o.taskQueue}", checkpoints in ${o.checkpointStore}`);
        err('Ready. In another terminal: sparsity submit examples/quick.yaml --wait   (Ctrl-C here stops everything)');
      }
      const sig = await Promise.race([whenAborted(interrupted), workers.slots.failed]);
      err(`${sig instanceof Error ? 'no training slot could start' : sig}: stopping workers (each slot trains to its next eval point and commits), Temporal and PostgreSQL ...`);
      await workers.stop();
      await stack.stop();
      removeEmbeddedEndpoints(home);
      err('stopped.');
      if (sig instanceof Error) throw sig;
    });

  program
    .command('worker')
    .description('serve a task queue: workflows, bookkeeping and N training slots (one process each)')
    .option('--task-queue <q>', 'task queue (the sweep file names it; by kind of host: gpu-h100, gpu-a100, cpu)', 'sparsity')
    .option('--slots <n>', 'CPU training slots (one per core); GPU hosts use --gpus', slotsArg('--slots'), 1)
    .option('--gpus <list>', 'one training slot per GPU: all, or indices as nvidia-smi lists them (0,1,3); installs the GPU backend on first use')
    .option('--slots-only', 'only training slots: no workflows, bookkeeping or fits on this host (GPU hosts)')
    .option('--db-connections <n>', 'most Postgres connections this host may open; refuse to start if the slots need more', wholeNumberArg('--db-connections', 1))
    .option('--drain-timeout <s>', 'on SIGTERM, seconds a slot may take to reach its next eval point before it is cancelled', wholeNumberArg('--drain-timeout'), DEFAULT_DRAIN_TIMEOUT_SECONDS)
    .option('--no-versioning', 'no Temporal Worker Versioning (servers without worker deployments); see README "Provenance"')
    .addOption(new Option('--backend <b>', 'training backend').choices(BACKENDS))
    .addOption(checkpointStoreOption())
    .action(
      async (o: {
        taskQueue: string;
        slots: number;
        gpus?: string;
        slotsOnly?: boolean;
        dbConnections?: number;
        drainTimeout: number;
        versioning: boolean;
        backend?: BackendName;
        checkpointStore: string;
      }) => {
        await checkStoreUri(o.checkpointStore);
        const gpuSlots = o.gpus === undefined ? null : await prepareGpuSlots(o.gpus, { onProgress: err });
        const slotCount = gpuSlots ? gpuSlots.length : o.slots;
        const conns = connectionsNeeded({ slots: slotCount, slotsOnly: o.slotsOnly });
        const connLine = `${conns.total} Postgres connection(s) at most: ${o.slotsOnly ? 'no orchestration pool (--slots-only)' : `orchestration pool ${conns.orchestration}`} + ${slotCount} slot(s) x ${conns.perSlot}`;
        if (o.slotsOnly && slotCount === 0) throw new UsageError('--slots-only with --slots 0 would serve nothing; give --slots N (N >= 1) or --gpus');
        if (o.dbConnections !== undefined && o.dbConnections < conns.total) {
          throw new UsageError(`--db-connections ${o.dbConnections} is below what this worker needs: ${connLine}; lower --slots or raise --db-connections`);
        }
        const endpoints = resolveEndpoints();
        const abort = new AbortController();
        const code = codeProvenance();
        const opts = {
          endpoints,
          taskQueue: o.taskQueue,
          slots: slotCount,
          backend: gpuSlots ? ('tensorflow' as const) : o.backend,
          // Slots read their variant (gpu) from their own environment, so their paths are computed there.
          paths: enginePaths(),
          checkpointStore: o.checkpointStore,
          ...(gpuSlots ? { slotEnv: (slot: number) => gpuSlots[slot].env } : {}),
          slotsOnly: Boolean(o.slotsOnly),
          versioning: o.versioning,
          drainTimeoutSeconds: o.drainTimeout,
          code,
        };
        if (!gpuSlots && slotCount > 0) await prepareNativeBackend({ flag: o.backend });
        const slots = forkTrainingSlots(opts);
        const orchestration = o.slotsOnly ? new Promise<void>(() => undefined) : runOrchestrationWorker(opts, abort.signal);
        err(
          `worker ${process.pid}: queue "${o.taskQueue}", ${slotCount} training slot(s)${gpuSlots ? ` on GPU ${gpuSlots.map((g) => g.gpu).join(', ')}` : ''}${o.slotsOnly ? ' only' : ''}, build ${code.buildId}` +
            `${o.versioning ? ' (pinned)' : ' (unversioned)'}, checkpoints in ${o.checkpointStore}, Temporal ${endpoints.temporalAddress}`,
        );
        err(`worker ${process.pid}: ${connLine}`);
        let failed: unknown;
        const sig = await Promise.race([
          whenAborted(interruptSignal()),
          orchestration.then(() => undefined),
          slots.failed.then((e) => Promise.reject(e)),
        ]).catch((e: unknown) => {
          failed = e;
          return undefined;
        });
        // Slots first: each trains to its next eval point and commits; the orchestration
        // worker keeps serving meanwhile, so the workflows hand the rest of those runs on.
        err(`${sig ?? (failed instanceof Error ? 'stopping' : 'orchestration worker stopped')}: draining ${slotCount} training slot(s) to their next eval point ...`);
        await slots.stop();
        abort.abort();
        await orchestration.catch(() => undefined);
        if (failed) throw failed;
      },
    );

  program
    .command('worker-slot', { hidden: true })
    .requiredOption('--task-queue <q>')
    .requiredOption('--slot <n>', 'slot number', wholeNumberArg('--slot'))
    .option('--drain-timeout <s>', 'seconds', wholeNumberArg('--drain-timeout'), DEFAULT_DRAIN_TIMEOUT_SECONDS)
    .option('--no-versioning')
    .addOption(new Option('--backend <b>').choices(BACKENDS))
    .addOption(checkpointStoreOption())
    .action(async (o: { taskQueue: string; slot: number; drainTimeout: number; versioning: boolean; backend?: BackendName; checkpointStore: string }) => {
      const endpoints = resolveEndpoints();
      const abort = new AbortController();
      // Exit with the parent: a slot must not outlive the worker that forked it.
      process.on('disconnect', () => abort.abort());
      interruptSignal({ slot: true }).addEventListener('abort', () => abort.abort(), { once: true });
      await runTrainingSlot(
        {
          endpoints,
          taskQueue: o.taskQueue,
          slots: 1,
          slot: o.slot,
          backend: o.backend,
          paths: enginePaths(),
          checkpointStore: o.checkpointStore,
          versioning: o.versioning,
          drainTimeoutSeconds: o.drainTimeout,
        },
        abort.signal,
      );
      process.exit(0);
    });

  program
    .command('submit <file>')
    .description('validate a sweep file, store the sweep and start it')
    .option('--name <name>', 'sweep name (default: the file\'s name:)')
    .option('--no-reuse', 'train every run, even one completed in another sweep with the same configuration and code')
    .option('--wait', 'wait until the sweep finishes, showing progress')
    .option('--json', 'one line of JSON on stdout')
    .action(async (file: string, o: { name?: string; reuse: boolean; wait?: boolean; json?: boolean }) => {
      const spec = readSweepFile(file, { name: o.name });
      await checkData(spec, file, { cacheDir: enginePaths().cacheDir });
      const storeWarning = checkpointStoreWarning(spec);
      if (storeWarning) err(`warning: ${storeWarning}`);
      let final: SweepStatusReport | undefined;
      const result = await withServices({ temporal: true }, async ({ db, client, endpoints }) => {
        const c = client as Client;
        const pollers = await queueHasPollers(c, spec.taskQueue);
        if (!pollers.workflows || !pollers.training) {
          err(
            `warning: no worker serves task queue "${spec.taskQueue}"${pollers.workflows ? ' (training slots)' : ''} yet; ` +
              `runs wait until one does: sparsity worker --task-queue ${spec.taskQueue}`,
          );
        }
        const submitted = await submitSweep(db, c, spec, { reuse: o.reuse });
        const reused = submitted.reused ? ` (${submitted.reused} reused from earlier sweeps)` : '';
        err(`submitted ${submitted.sweepId}: ${submitted.runs} runs${reused} on queue "${spec.taskQueue}"`);
        if (endpoints.uiUrl) err(`watch: ${endpoints.uiUrl}/namespaces/${endpoints.namespace}/workflows?query=${encodeURIComponent(`SparsitySweep="${submitted.sweepId}"`)}`);
        if (o.wait) {
          const display = o.json ? undefined : new StatusDisplay();
          final = await waitForSweep(db, c, submitted.sweepId, (s) => display?.update(s));
          display?.stop();
        }
        return submitted;
      });
      if (o.json) out({ sweepId: result.sweepId, runs: result.runs, reused: result.reused, ...(final ? { status: final.status, counts: final.runs } : {}) });
      else {
        out(result.sweepId);
        if (final) printStatus(final, err);
      }
      if (final && final.status !== 'completed') process.exitCode = 1;
    });

  program
    .command('status <sweepId>')
    .description('progress of a sweep')
    .option('--watch', 'keep the display live until the sweep ends')
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { watch?: boolean; json?: boolean }) => {
      await withServices({ temporal: false }, async ({ db }) => {
        const temporal = (() => {
          try {
            return resolveEndpoints();
          } catch {
            return undefined;
          }
        })();
        const client = temporal ? await connectClient(temporal).catch(() => undefined) : undefined;
        try {
          if (o.watch && !o.json && client) {
            const display = new StatusDisplay();
            const s = await waitForSweep(db, client, sweepId, (s) => display.update(s));
            display.stop();
            printStatus(s, out);
            return;
          }
          const s = await sweepStatus(db, client, sweepId);
          if (o.json) {
            out({
              sweepId: s.sweepId,
              status: s.status,
              runs: s.runs,
              compute: s.compute,
              reused: s.reused,
              runsDetail: s.runsDetail.map((r) => ({ runId: r.runId, label: r.label, status: r.status, progress: r.progress, attempts: r.attempts, reusedFrom: r.reusedFrom })),
              fits: s.fits,
            });
          } else printStatus(s, out);
        } finally {
          await client?.connection.close();
        }
      });
    });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    program
      .command(`${action} <sweepId>`)
      .description(
        action === 'pause'
          ? 'hold back new runs (running ones finish)'
          : action === 'resume'
            ? 'start runs again after a pause'
            : 'stop every run of the sweep and mark them cancelled',
      )
      .option('--json', 'one line of JSON on stdout')
      .action(async (sweepId: string, o: { json?: boolean }) => {
        await withServices({ temporal: true }, async ({ db, client }) => {
          let status: string = action === 'pause' ? 'paused' : 'running';
          if (action === 'cancel') {
            const spec = (await requireSweep(db, sweepId)).spec;
            // With no worker on the queue nothing can process the request: waiting a heartbeat timeout
            // (up to many minutes for large models) would only delay the terminate that follows.
            const served = (await queueHasPollers(client as Client, spec.taskQueue).catch(() => ({ workflows: true }))).workflows;
            const graceMs = served ? (spec.heartbeatTimeoutSeconds + 15) * 1000 : 5_000;
            err(
              served
                ? `cancelling ${sweepId}: waiting up to ${graceMs / 1000} s for its runs to stop (each at its next heartbeat) ...`
                : `cancelling ${sweepId}: no worker serves task queue "${spec.taskQueue}", so its workflow is terminated and its runs marked cancelled ...`,
            );
            status = (await cancelSweep(db, client as Client, sweepId, graceMs)).status;
          } else {
            await signalSweep(db, client as Client, sweepId, action);
          }
          if (o.json) out({ sweepId, status });
          else out(`${sweepId}: ${status}`);
        });
      });
  }

  program
    .command('runs <sweepId>')
    .description('the runs of a sweep')
    .option('--json', 'one line of JSON on stdout')
    .action(async (sweepId: string, o: { json?: boolean }) => {
      await withServices({ temporal: false }, async ({ db }) => {
        const s = await sweepStatus(db, undefined, sweepId);
        if (o.json) out(s.runsDetail);
        else printRuns(s.runsDetail, out);
      });
    });

  program
    .command('sql <query>')
    .description('run a read-only SQL query against the results database')
    .option('--json', 'one line of JSON (an array of row objects) on stdout')
    .option('--timeout <s>', 'statement timeout in seconds', wholeNumberArg('--timeout', 1), 30)
    .action(async (query: string, o: { json?: boolean; timeout: number }) => {
      const rows = await runReadOnlySql(query, o.timeout, err);
      if (o.json) out(rows);
      else printTable(rows, out);
    });

  program
    .command('migrate')
    .description('bring the database schema up to date')
    .action(async () => {
      await withServices({ temporal: false }, async () => undefined);
      err('schema up to date');
    });

  program
    .command('demo')
    .description('start the embedded stack, run examples/quick.yaml end to end, print curves and fits, stop')
    .option('--file <f>', 'sweep file (default: the package\'s examples/quick.yaml)')
    .option('--workers <n>', 'training slots', slotsArg('--workers', 1), 2)
    .option('--json', 'last stdout line: {"sweepId","runs":{"total","completed"},"fits":[...]}')
    .addOption(checkpointStoreOption())
    .action(async (o: { file?: string; workers: number; json?: boolean; checkpointStore: string }) => {
      await checkStoreUri(o.checkpointStore);
      const file = o.file ?? path.join(projectRoot(), 'examples', 'quick.yaml');
      const summary = await runDemo({ file, workers: o.workers, json: Boolean(o.json), log: err, out, checkpointStore: o.checkpointStore, signal: interruptSignal() });
      if (summary.runs.completed < summary.runs.total) process.exitCode = 1;
    });

  registerAnalysisCommands(program, { out, err, withServices });
  registerGcCommand(program, { out, err, withServices });
  registerDataCommands(program, { out, err, paths: enginePaths });
  registerLifecycleCommands(program, { out, err, withServices });
  return program;
}

/** `--checkpoint-store`: where a worker writes checkpoints unless the sweep file names a store. */
function checkpointStoreOption(): Option {
  return new Option('--checkpoint-store <uri>', 'checkpoint store: postgres (inline, small models) | file:///shared/path | s3://bucket/prefix')
    .env('SPARSITY_CHECKPOINT_STORE')
    .default('postgres');
}

export async function main(argv: string[]): Promise<void> {
  installInterruptHandling(err);
  // `sparsity ... | head`: a closed pipe ends the command quietly, as for any Unix tool.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof InterruptedError) {
      err(e.message);
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    // UsageError, and the backend/GPU errors that carry exit code 2 (a bad --gpus, SPARSITY_BACKEND).
    if (e instanceof UsageError || (e instanceof Error && (e as Error & { exitCode?: unknown }).exitCode === 2)) {
      err(`error: ${e.message}`);
      process.exitCode = 2;
      return;
    }
    const message = e instanceof Error ? e.message : String(e);
    err(`error: ${message}`);
    if (process.env.SPARSITY_DEBUG && e instanceof Error) err(e.stack ?? '');
    process.exitCode = 1;
  }
}

if (require.main === module) {
  void main(process.argv).then(() => {
    // Connections and timers in libraries can hold the loop open; the command is done.
    setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
  });
}

