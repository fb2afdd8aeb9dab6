// A study: several sweep files trained on local slots (`sparsity study`: CPU; `bench gpu --study`: one
// or more slots per GPU) under one wall-clock budget, and what each sweep leaves behind written where
// the caller can carry it away (a device's $OUT):
//   <out>/<sweep name>/  what `sparsity report <sweepId> --out` writes (client/sweepOutputs.ts): the
//                        report, fits.json and points.csv
// When the budget runs out the sweeps still training are cancelled (client/sweeps.ts cancelSweep,
// the path of `sparsity cancel`); what completed is kept, fitted and reported.
import { setTimeout as delay } from 'node:timers/promises';
import { requestedBackend } from '../engine/backendSelect';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSweepFile } from '../client/sweepFile';
import { cancelSweep, submitSweep, sweepStatus, type SweepStatusReport } from '../client/sweeps';
import { connect } from '../db/connect';
import { writeSweepOutputs } from '../client/sweepOutputs';
import type { BackendName } from '../engine/types';
import { UsageError } from '../domain/errors';
import { gridSize } from '../domain/grid';
import type { SweepSpec } from '../domain/spec';
import { readEmbeddedEndpoints } from '../stack/endpoints';
import { startLocalWorkers, startStack } from '../stack/stack';
import { connectClient } from '../workers/connections';

/** Default wall-clock seconds for the study phase (training, cancelling, fitting and reports). */
export const STUDY_BUDGET_S = 360;
/**
 * Training processes per GPU. One tfjs-node-gpu process is op-by-op eager: at these model sizes it
 * waits on kernel launches far more than the GPU computes, so a few processes sharing one GPU (each
 * on its own core, memory growth on) train more in the same minutes than one.
 */
export const STUDY_SLOTS_PER_GPU = 4;
/** The least budget a study accepts: its reserve (studyReserveMs, ≥ 30 s) must leave time to train. */
export const STUDY_MIN_BUDGET_S = 60;

/** Refuses a budget the study's reserve (studyReserveMs) would leave no training time in; `flag` names it. */
export function checkStudyBudget(seconds: number, flag: string): void {
  if (!(Number.isFinite(seconds) && seconds >= STUDY_MIN_BUDGET_S)) {
    throw new UsageError(`${flag} must be at least ${STUDY_MIN_BUDGET_S} seconds: ${STUDY_MIN_BUDGET_S / 2} are kept for cancelling, fitting and reports (got ${JSON.stringify(seconds)})`);
  }
}

/** A study keeps its state in the state dir's embedded stack, which a `sparsity dev` may hold: refused then. */
export function checkNoDevStack(stateDir: string, flag: string): void {
  if (readEmbeddedEndpoints(stateDir)) {
    throw new UsageError(`${flag}: a sparsity dev stack is already running for ${stateDir} (see ${stateDir}/endpoints.json); submit the sweeps to it (sparsity submit), or stop it first`);
  }
}

export interface StudyFile {
  file: string;
  spec: SweepSpec;
}

/**
 * The sweep files `--study` names: a directory (every *.yaml in it, by name), a comma-separated list,
 * or one file. Every file is read and validated before anything runs; a bad one is a UsageError
 * naming it (and the field). The sweeps share the GPU slots, so they must share a task queue, and
 * their names (the output folders) must differ.
 */
export function readStudyFiles(arg: string, flag: string): StudyFile[] {
  const trimmed = arg.trim();
  let files: string[];
  if (trimmed !== '' && !trimmed.includes(',') && existsSync(trimmed) && statSync(trimmed).isDirectory()) {
    files = readdirSync(trimmed)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => path.join(trimmed, f));
    if (files.length === 0) throw new UsageError(`${flag} ${arg}: the directory holds no *.yaml sweep file`);
  } else {
    files = trimmed.split(',').map((f) => f.trim()).filter((f) => f !== '');
    if (files.length === 0) throw new UsageError(`${flag} ${JSON.stringify(arg)}: no sweep file named`);
  }
  const study = files.map((file) => ({ file, spec: readSweepFile(file) }));
  const [first] = study;
  const names = new Map<string, string>();
  for (const s of study) {
    if (s.spec.taskQueue !== first.spec.taskQueue) {
      throw new UsageError(
        `${flag}: ${s.file}: taskQueue ${JSON.stringify(s.spec.taskQueue)} differs from ${first.file}'s ${JSON.stringify(first.spec.taskQueue)}; the study's sweeps share the GPU slots, which serve one queue`,
      );
    }
    const other = names.get(s.spec.name);
    if (other !== undefined) throw new UsageError(`${flag}: ${s.file}: name ${JSON.stringify(s.spec.name)} repeats ${other}'s (each sweep's outputs go to a folder of its name)`);
    names.set(s.spec.name, s.file);
  }
  return study;
}

/**
 * Refuses an output folder that cannot be created (a file on its path), without creating anything:
 * the dry run must not write.
 */
export function checkOutputDir(dir: string, flag: string): void {
  let at = path.resolve(dir);
  while (!existsSync(at)) at = path.dirname(at);
  if (!statSync(at).isDirectory()) throw new UsageError(`${flag} ${dir}: ${at} is a file, not a directory`);
}

// ---------------------------------------------------------------------------------------------
// What a sweep leaves behind.

/**
 * Packs `dir` into the gzipped tar `archive` (`tar`, present on any Linux host): a device hands back
 * at most a few files, and a study's reports are dozens. Returns null when it worked, else why not.
 */
export function packDir(dir: string, archive: string): string | null {
  mkdirSync(path.dirname(path.resolve(archive)), { recursive: true });
  const r = spawnSync('tar', ['-czf', path.resolve(archive), '-C', path.dirname(path.resolve(dir)), path.basename(path.resolve(dir))], { encoding: 'utf8' });
  if (r.error) return `tar: ${r.error.message}`;
  return r.status === 0 ? null : `tar exited ${r.status}: ${(r.stderr || '').trim().split('\n')[0]}`;
}

function renameOver(from: string, to: string): string | null {
  try {
    renameSync(from, to);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

// ---------------------------------------------------------------------------------------------
// Training the study.

export interface StudySweep {
  file: string;
  name: string;
  /** null: the budget ran out before it was submitted. */
  sweepId: string | null;
  /** The sweep's status at the end (completed, failed, cancelled, …), or `not-submitted`. */
  status: string;
  completed: number;
  total: number;
  /** From its submission until its last run stopped. */
  seconds: number;
  /** Its folder under the study output, when written. */
  out?: string;
  outError?: string;
}

export interface StudyResult {
  sweeps: StudySweep[];
  slots: number;
  /** Whether the budget ran out with sweeps still training (they were cancelled). */
  budgetRanOut: boolean;
  /** Set when no training slot could start (SlotProcesses.failed): what still trained was cancelled. */
  slotsFailed?: string;
}

export interface StudyOptions {
  /** Training slots (processes) on this host. */
  slots: number;
  /** Extra environment of slot i (a GPU slot's CUDA_VISIBLE_DEVICES, memory growth, JIT cache). */
  slotEnv?: (slot: number) => Record<string, string>;
  /** Curve laws in the reports: each run's points from this fraction of its steps on (`report --curve-from`). */
  curveFrom?: number;
  /** The slots' backend; default SPARSITY_BACKEND, else the fastest that loads (native when installed). */
  backend?: BackendName;
  stateDir: string;
  /** Wall-clock budget of the whole study: training, cancelling, fitting, reports. */
  budgetMs: number;
  outDir: string;
  /** A .tar.gz of `outDir`, re-packed after each sweep's outputs (a command killed later still leaves the earlier ones). */
  archive?: string;
  log: (m: string) => void;
  signal?: AbortSignal;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
/** Waits `ms`, or less if `signal` aborts first (a Ctrl-C ends the study's wait at once). */
const sleep = (ms: number, signal?: AbortSignal) => delay(Math.max(0, ms), undefined, { signal }).catch(() => undefined);

/**
 * Kept at the end of the budget for cancelling what still trains and fitting and reporting it: 10%
 * of the budget, at least 30 s, at most 60 s (a cancel takes ~5-10 s: heartbeats are at most 5 s
 * apart; a report of a few runs ~10-20 s).
 */
export function studyReserveMs(budgetMs: number): number {
  return Math.min(60_000, Math.max(30_000, budgetMs * 0.1));
}

/**
 * Trains the study's sweeps through an embedded Temporal + Postgres kept under `stateDir` (so
 * `SPARSITY_HOME=<stateDir> sparsity status|report` reads them afterwards), `slotsPerGpu` training
 * processes per GPU, checkpoints in a file store under `stateDir`.
 *
 * Sweeps go in one after another, overlapped at the seams: the next sweep is submitted as soon as
 * the sweeps in flight can no longer keep every slot busy (Σ min(running + pending, maxParallel) <
 * slots). Submitting everything at once would share the slots among every sweep, and at the
 * deadline each sweep would hold a few finished runs and a pile of half-trained ones; in turn, the
 * sweeps first in the list finish whole (their fits need every size, activation and budget), no
 * slot idles on a sweep's tail, and what the budget cuts off is the end of the list.
 */
export async function trainStudy(study: StudyFile[], o: StudyOptions): Promise<StudyResult> {
  const t0 = Date.now();
  const deadline = t0 + o.budgetMs;
  const trainUntil = deadline - studyReserveMs(o.budgetMs);
  const { slots } = o;
  const queue = study[0].spec.taskQueue;
  const sweeps: (StudySweep & { spec: SweepSpec; submittedAt?: number; endedAt?: number; last?: SweepStatusReport; writing?: Promise<void> })[] = study.map((s) => ({
    file: s.file,
    name: s.spec.name,
    spec: s.spec,
    sweepId: null,
    status: 'not-submitted',
    completed: 0,
    total: gridSize(s.spec),
    seconds: 0,
  }));
  const stack = await startStack({ home: o.stateDir, log: o.log });
  const workers = startLocalWorkers(stack.endpoints, {
    taskQueue: queue,
    slots,
    // --backend, else SPARSITY_BACKEND, else the slots' own default (the fastest that loads).
    backend: requestedBackend(o.backend)?.name,
    checkpointStore: `file://${path.resolve(o.stateDir, 'checkpoints')}`,
    slotEnv: (slot) => ({ SPARSITY_HOME: o.stateDir, ...(o.slotEnv?.(slot) ?? {}) }),
  });
  const db = connect(stack.endpoints.databaseUrl, { max: 4 });
  const client = await connectClient(stack.endpoints);
  // Reports one at a time, while later sweeps train: fitting takes cores the slots leave free.
  let writes: Promise<void> = Promise.resolve();
  const fitWorkers = Math.max(2, Math.floor(os.cpus().length / 4));
  const write = (s: (typeof sweeps)[number]) => {
    if (s.writing || !s.sweepId) return;
    const id = s.sweepId;
    const dir = path.join(o.outDir, s.name);
    s.writing = writes = writes.then(async () => {
      try {
        await writeSweepOutputs(db, id, dir, { workers: fitWorkers, log: o.log, curveFrom: o.curveFrom });
        s.out = dir;
        o.log(`${s.name}: outputs in ${dir}`);
        if (o.archive) {
          // Packed beside, then renamed: the archive is whole whenever the command is stopped.
          const why = packDir(o.outDir, `${o.archive}.partial`) ?? renameOver(`${o.archive}.partial`, o.archive);
          if (why) o.log(`packing ${o.archive}: ${why}`);
        }
      } catch (e) {
        s.outError = (e as Error).message.split('\n')[0];
        o.log(`${s.name}: writing outputs failed: ${s.outError}`);
      }
    });
  };
  const refresh = async (s: (typeof sweeps)[number]) => {
    if (!s.sweepId) return;
    const st = await sweepStatus(db, undefined, s.sweepId);
    s.last = st;
    s.status = st.status;
    s.completed = st.runs.completed;
    s.total = st.runs.total;
    // Its runs have all stopped: the sweep's own fit may still run in its workflow, but the
    // outputs need only the stored runs.
    if (s.endedAt === undefined && (TERMINAL.has(st.status) || st.runs.pending + st.runs.running === 0)) {
      s.endedAt = Date.now();
      s.seconds = (s.endedAt - (s.submittedAt ?? s.endedAt)) / 1000;
      o.log(`${s.name}: ${st.runs.completed}/${st.runs.total} runs completed in ${s.seconds.toFixed(0)} s`);
      write(s);
    }
  };
  const active = () => sweeps.filter((s) => s.sweepId && s.endedAt === undefined);
  let budgetRanOut = false;
  let slotsFailed: string | undefined;
  void workers.slots.failed.then((e) => (slotsFailed = e.message));
  let progressAt = Date.now();
  try {
    let next = 0;
    for (;;) {
      for (const s of active()) await refresh(s);
      if (o.signal?.aborted || slotsFailed || Date.now() >= trainUntil) break;
      if (Date.now() - progressAt >= 30_000) {
        progressAt = Date.now();
        const line = active().map((s) => `${s.name} ${s.completed}/${s.total} done, ${s.last?.runs.running ?? 0} running`).join('; ');
        o.log(`study, ${Math.round((Date.now() - t0) / 1000)} s of ${Math.round(o.budgetMs / 1000)}: ${line || 'no sweep training'}`);
      }
      // Room on the slots that the sweeps in flight cannot fill: submit the next sweep(s).
      let busy = active().reduce((n, s) => n + Math.min((s.last?.runs.running ?? 0) + (s.last?.runs.pending ?? s.total), s.spec.maxParallel), 0);
      while (next < sweeps.length && busy < slots) {
        const s = sweeps[next++];
        const { sweepId } = await submitSweep(db, client, s.spec);
        s.sweepId = sweepId;
        s.submittedAt = Date.now();
        s.status = 'running';
        busy += Math.min(s.total, s.spec.maxParallel);
        o.log(`${s.name}: sweep ${sweepId} submitted (${s.total} runs, ${s.file})`);
      }
      if (next >= sweeps.length && active().length === 0) break;
      await sleep(Math.min(5000, trainUntil - Date.now()), o.signal);
    }
    // The budget is spent: cancel what still trains, as `sparsity cancel` does.
    const left = active();
    if (left.length > 0) {
      const why = o.signal?.aborted ? 'interrupted' : slotsFailed ? 'no training slot could start' : 'study budget spent';
      budgetRanOut = why === 'study budget spent';
      o.log(`${why}: cancelling ${left.map((s) => s.name).join(', ')}`);
      // A slot sees the cancellation at its next heartbeat (at most 5 s apart) between steps; if no
      // worker processes it in this grace, cancelSweep terminates the workflow and settles the rows.
      const grace = Math.max(10_000, Math.min(30_000, deadline - Date.now() - 20_000));
      await Promise.all(left.map((s) => cancelSweep(db, client, s.sweepId!, grace).catch((e: Error) => o.log(`${s.name}: cancel: ${e.message}`))));
      for (const s of left) await refresh(s);
      for (const s of left) if (s.endedAt === undefined) {
        s.endedAt = Date.now();
        s.seconds = (s.endedAt - (s.submittedAt ?? s.endedAt)) / 1000;
        write(s);
      }
    }
    await writes;
    // A sweep whose runs all stopped may still be fitting in its workflow: its final status, briefly.
    while (Date.now() < deadline && sweeps.some((s) => s.sweepId && !TERMINAL.has(s.status))) {
      await sleep(1000);
      for (const s of sweeps) if (s.sweepId && !TERMINAL.has(s.status)) await refresh(s);
    }
  } finally {
    await writes.catch(() => undefined);
    await client.connection.close().catch(() => undefined);
    await db.destroy().catch(() => undefined);
    await workers.stop().catch(() => undefined);
    await stack.stop().catch(() => undefined);
  }
  return {
    sweeps: sweeps.map(({ file, name, sweepId, status, completed, total, seconds, out, outError }) => ({ file, name, sweepId, status, completed, total, seconds, ...(out ? { out } : {}), ...(outError ? { outError } : {}) })),
    slots,
    budgetRanOut,
    ...(slotsFailed ? { slotsFailed } : {}),
  };
}
