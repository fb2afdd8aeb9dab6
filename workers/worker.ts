// Worker processes. An orchestration worker runs workflows and short bookkeeping activities;
// each training slot is a process of its own running one training segment at a time on
// `<queue>.train` (tfjs-wasm is single-threaded: parallelism comes from processes).
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type LogEntry, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { BackendName, EnginePaths } from '../engine/types';
import { connect, migrateToLatest, type Db } from '../db/connect';
import { recordBuild } from '../db/provenance';
import type { CodeProvenance } from '../domain/provenance';
import { trainQueueOf } from '../workflows/sweep';
import { initBackend } from '../engine';
import { assertOnGpu, describeDevice } from '../engine/backendSelect';
import { StoreRegistry } from '../stores';
import { connectWorkerConnection, type Endpoints } from './connections';
import { codeProvenance, PROVENANCE_ENV } from './provenance';
import { deploymentOptions, promoteWhenReady } from './versioning';

export interface WorkerOptions {
  endpoints: Endpoints;
  taskQueue: string;
  /** Training slots (child processes); 0 = orchestration only. */
  slots: number;
  backend?: BackendName;
  /** The engine's cache and native-backend locations on this host. */
  paths: EnginePaths;
  /** Default checkpoint store URI of this worker (`--checkpoint-store`, SPARSITY_CHECKPOINT_STORE; default `postgres`). */
  checkpointStore: string;
  /** Per-slot environment (one GPU each: CUDA_VISIBLE_DEVICES, SPARSITY_DEVICE=gpu...), merged over the worker's. */
  slotEnv?: (slot: number) => Record<string, string>;
  /** Training slots only: no workflows, bookkeeping or fits on this host (GPU hosts). */
  slotsOnly?: boolean;
  /**
   * Temporal Worker Versioning, PINNED (workers/versioning.ts); default on. Off: for servers
   * without worker deployments; workflow changes are then guarded by `patched()` alone and a
   * run may be trained by several builds (`runs.mixed_builds`).
   */
  versioning?: boolean;
  /** On SIGTERM a slot trains to its next eval point, commits and exits; after this many seconds it is cancelled instead. */
  drainTimeoutSeconds?: number;
  /** The code this process runs (default: computed once per process, workers/provenance.ts). */
  code?: CodeProvenance;
}

/** Postgres connections per pool: the orchestration worker's, and each training slot's. */
export const ORCHESTRATION_POOL = 8;
export const SLOT_POOL = 2;
export const DEFAULT_DRAIN_TIMEOUT_SECONDS = 600;

/** The Postgres connections one `sparsity worker` host opens at most (each pg pool opens lazily up to its max). */
export function connectionsNeeded(o: { slots: number; slotsOnly?: boolean }): { orchestration: number; perSlot: number; total: number } {
  const orchestration = o.slotsOnly ? 0 : ORCHESTRATION_POOL;
  return { orchestration, perSlot: SLOT_POOL, total: orchestration + o.slots * SLOT_POOL };
}

let runtimeInstalled = false;
/** The SDK logs every worker state change at INFO; keep stderr for what a researcher needs. */
function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    // To stderr: stdout carries a command's result (`study --json`, `bench gpu`), never log lines.
    const toStderr = (e: LogEntry) => {
      // Benign by design, so noise: a training slot serves activities only; an activity that
      // completes just after its run was cancelled (a Ctrl-C, `sparsity cancel`) is not found.
      if (e.message.startsWith('No workflows registered') || e.message.startsWith('Activity not found on completion')) return;
      let meta = '';
      try {
        meta = e.meta ? ` ${JSON.stringify(e.meta, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}` : '';
      } catch {
        /* unserialisable meta: the message alone */
      }
      process.stderr.write(`${new Date(Number(e.timestampNanos / 1_000_000n)).toISOString()} [${e.level}] ${e.message}${meta}\n`);
    };
    Runtime.install({
      logger: new DefaultLogger((process.env.SPARSITY_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN', toStderr),
      // The SDK core's own log lines through the same logger (plain text on stderr, filtered above)
      // instead of straight to the console with colour codes.
      telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
      // The commands own SIGINT/SIGTERM (cli/interrupt.ts): the Runtime's default shut every worker
      // of the process down at once, so `worker` could not keep orchestrating while its slots drained
      // and `demo` could not cancel its sweep.
      shutdownSignals: [],
    });
  } catch {
    /* already installed by the embedding program */
  }
}

let cachedBundle: Promise<WorkflowBundleWithSourceMap> | undefined;
function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  cachedBundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => process.stderr.write(`${m}\n`), log() {} },
  });
  return cachedBundle;
}

/** Opens the database and a Temporal connection, builds a worker with them, and runs it until `signal` aborts; closes both however it ends. */
async function runWorker(
  opts: WorkerOptions,
  poolSize: number,
  signal: AbortSignal,
  build: (db: Db, connection: NativeConnection, stores: StoreRegistry) => Promise<Worker>,
): Promise<void> {
  installRuntime();
  const db = connect(opts.endpoints.databaseUrl, { max: poolSize });
  const stores = new StoreRegistry({ db });
  let connection: NativeConnection | undefined;
  try {
    // A bad store URI is refused when the worker starts, not at the first checkpoint.
    stores.open(opts.checkpointStore);
    connection = await connectWorkerConnection(opts.endpoints);
    const worker = await build(db, connection, stores);
    // Aborted while the worker was being built (a Ctrl-C at start-up): the event has fired already.
    await worker.runUntil(
      new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }))),
    );
  } finally {
    await connection?.close();
    await stores.close();
    await db.destroy();
  }
}

/** Runs until `signal` aborts: workflows + bookkeeping on `taskQueue`. */
export function runOrchestrationWorker(opts: WorkerOptions, signal: AbortSignal): Promise<void> {
  const code = opts.code ?? codeProvenance();
  const versioned = opts.versioning !== false;
  return runWorker(opts, ORCHESTRATION_POOL, signal, async (db, connection, stores) => {
    await migrateToLatest(db);
    await recordBuild(db, code);
    const activities = createActivities({ db, workerName: `${os.hostname()}:${process.pid}`, paths: opts.paths, code, checkpointStore: opts.checkpointStore, stores });
    if (versioned) {
      void promoteWhenReady(connection, {
        namespace: opts.endpoints.namespace,
        taskQueue: opts.taskQueue,
        buildId: code.buildId,
        signal,
        log: (m) => process.stderr.write(`${m}\n`),
      });
    }
    return Worker.create({
      ...deploymentOptions(opts.taskQueue, code.buildId, versioned),
      connection,
      namespace: opts.endpoints.namespace,
      taskQueue: opts.taskQueue,
      workflowBundle: await workflowBundle(),
      activities: {
        startRun: activities.startRun,
        finishRun: activities.finishRun,
        setSweepStatus: activities.setSweepStatus,
        pendingRuns: activities.pendingRuns,
        countRuns: activities.countRuns,
        fitSweep: activities.fitSweep,
        collectCheckpointGarbage: activities.collectCheckpointGarbage,
        branchFromTrunk: activities.branchFromTrunk,
      },
      maxConcurrentActivityTaskExecutions: 16,
      maxCachedWorkflows: 500,
      shutdownGraceTime: '5s',
    });
  });
}

/** One training slot: one segment at a time on `<taskQueue>.train`. */
/**
 * When `signal` aborts (SIGTERM), the segment in flight trains to its next eval point, commits,
 * and returns the step it reached (the run continues on another slot); the worker waits for it
 * up to `drainTimeoutSeconds`, then cancels it (its progress since the last commit is lost).
 */
export function runTrainingSlot(opts: WorkerOptions & { slot: number }, signal: AbortSignal): Promise<void> {
  const code = opts.code ?? codeProvenance();
  return runWorker(opts, SLOT_POOL, signal, async (db, connection, stores) => {
    // The backend comes up before the slot polls: one that cannot load (or a GPU slot that landed on
    // the CPU) refuses to start in one line instead of failing every segment it would be given.
    const backend = await initBackend(opts.backend, opts.paths.nativeCandidates);
    if (process.env.SPARSITY_DEVICE === 'gpu') assertOnGpu(describeDevice(backend), process.env.CUDA_VISIBLE_DEVICES ?? String(opts.slot));
    const activities = createActivities({
      db,
      workerName: `${os.hostname()}:${process.pid}/slot${opts.slot}`,
      backend: opts.backend,
      paths: opts.paths,
      checkpointStore: opts.checkpointStore,
      stores,
      code,
      slot: opts.slot,
      draining: () => signal.aborted,
    });
    return Worker.create({
      ...deploymentOptions(opts.taskQueue, code.buildId, opts.versioning !== false),
      connection,
      namespace: opts.endpoints.namespace,
      taskQueue: trainQueueOf(opts.taskQueue),
      activities: { trainSegment: activities.trainSegment },
      maxConcurrentActivityTaskExecutions: 1,
      // Heartbeats are how a dead slot is noticed; flush them often.
      defaultHeartbeatThrottleInterval: '1s',
      maxHeartbeatThrottleInterval: '5s',
      shutdownGraceTime: `${opts.drainTimeoutSeconds ?? DEFAULT_DRAIN_TIMEOUT_SECONDS}s`,
    });
  });
}

/**
 * The most training slots one host may fork. Each is a Node process holding a backend (a few hundred
 * MB before its model), so beyond a few per core they only thrash: at most 8 per core and one per
 * 256 MiB of memory (a `--workers 100000` once forked hundreds of processes and a load of 300).
 */
export function maxTrainingSlots(host: { cpus: number; memoryBytes: number } = { cpus: os.cpus().length, memoryBytes: os.totalmem() }): number {
  return Math.max(1, Math.min(8 * host.cpus, Math.floor(host.memoryBytes / (256 * 2 ** 20))));
}

export interface SlotProcesses {
  children: ChildProcess[];
  /**
   * Resolves (never rejects) when every slot has failed at start-up too often to be restarted (a
   * backend that cannot load, a GPU slot off its GPU): the command then stops instead of waiting on
   * slots that will never train. Pending forever while any slot can run.
   */
  failed: Promise<Error>;
  stop(): Promise<void>;
}

/** A slot that exits non-zero this soon after it was forked failed at start-up. */
const STARTUP_WINDOW_MS = 60_000;
/** Consecutive start-up failures after which a slot is not restarted (backoff 2, 4, 8, 16 s between). */
const STARTUP_FAILURES = 5;

/**
 * Forks `slots` training processes (`sparsity worker-slot`). A slot that dies (out of memory,
 * a native abort) is replaced after a pause, so capacity is not lost silently; Temporal retries
 * the segment it held from the last checkpoint. `slotEnv(slot)` is merged over each slot's
 * environment (a GPU slot: its GPU, see stack/gpuPlan.ts gpuSlotEnv).
 */
export function forkTrainingSlots(opts: WorkerOptions): SlotProcesses {
  const drainSeconds = opts.drainTimeoutSeconds ?? DEFAULT_DRAIN_TIMEOUT_SECONDS;
  const code = opts.code ?? codeProvenance();
  const cli = path.join(__dirname, '..', 'cli', 'main.js');
  const children: ChildProcess[] = [];
  let stopping = false;
  const quickFailures = new Array<number>(opts.slots).fill(0);
  const givenUp = new Set<number>();
  let reportFailed: (e: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => (reportFailed = resolve));
  const start = (slot: number): ChildProcess => {
    const startedAt = Date.now();
    const args = ['worker-slot', '--task-queue', opts.taskQueue, '--slot', String(slot), '--checkpoint-store', opts.checkpointStore];
    if (opts.backend) args.push('--backend', opts.backend);
    if (opts.versioning === false) args.push('--no-versioning');
    args.push('--drain-timeout', String(drainSeconds));
    const child = fork(cli, args, {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: opts.endpoints.temporalAddress,
        TEMPORAL_NAMESPACE: opts.endpoints.namespace,
        DATABASE_URL: opts.endpoints.databaseUrl,
        [PROVENANCE_ENV]: JSON.stringify(code),
        // A GPU slot's own environment (stack/gpuPlan.ts gpuSlotEnv: CUDA_VISIBLE_DEVICES, ...).
        ...opts.slotEnv?.(slot),
      },
      // The slot's stdout to our stderr: our stdout is the command's result.
      stdio: ['ignore', 2, 'inherit', 'ipc'],
    });
    child.once('exit', (code, signal) => {
      // Exit 0: the slot was told to stop (its own SIGINT/SIGTERM from a terminal) and drained.
      if (stopping || code === 0) return;
      quickFailures[slot] = Date.now() - startedAt < STARTUP_WINDOW_MS ? quickFailures[slot] + 1 : 0;
      if (quickFailures[slot] >= STARTUP_FAILURES) {
        givenUp.add(slot);
        process.stderr.write(
          `training slot ${slot} failed ${STARTUP_FAILURES} times in a row within ${STARTUP_WINDOW_MS / 1000} s of starting (last: ${signal ?? `exit ${code}`}); not restarting it (its error is above)\n`,
        );
        if (givenUp.size === opts.slots) reportFailed(new Error(`every training slot (${opts.slots}) failed at start-up ${STARTUP_FAILURES} times in a row; the slots' errors are above`));
        return;
      }
      const delay = 2000 * 2 ** Math.max(0, quickFailures[slot] - 1);
      process.stderr.write(`training slot ${slot} (pid ${child.pid}) exited (${signal ?? code}); restarting it in ${delay / 1000} s\n`);
      setTimeout(() => {
        if (!stopping) children[slot] = start(slot);
      }, delay).unref();
    });
    return child;
  };
  for (let slot = 0; slot < opts.slots; slot++) children.push(start(slot));
  // This process exiting without stop() (a second Ctrl-C): the slots go at once, as after kill -9;
  // their runs resume from the last checkpoint on the next worker.
  process.once('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  return {
    children,
    failed,
    async stop() {
      stopping = true;
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              // The slot drains (trains to its next eval point and commits), then is cancelled
              // after its own drain timeout; SIGKILL only if even that does not end it.
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), (drainSeconds + 15) * 1000).unref();
            }),
        ),
      );
    },
  };
}
