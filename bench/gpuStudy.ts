// `bench gpu --study`: several sweep files trained on the GPU slots under one wall-clock budget, and
// what each sweep leaves behind written where the caller can carry it away (a device's $OUT):
//   <out>/<sweep name>/  what `sparsity report <sweepId> --out` writes, plus fits.json (as `sparsity
//                        fit --json` prints them) and points.csv (every stored eval point)
// When the budget runs out the sweeps still training are cancelled (client/sweeps.ts cancelSweep,
// the path of `sparsity cancel`); what completed is kept, fitted and reported.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSweepFile } from '../client/sweepFile';
import { cancelSweep, submitSweep, sweepStatus, type SweepStatusReport } from '../client/sweeps';
import { connect, type Db } from '../db/connect';
import { loadSweepData, storeFits, type StoredFit } from '../db/fits';
import { runProvenance } from '../db/provenance';
import { fitSweepData, reportInput } from '../analysis/sweepFits';
import { renderReport } from '../analysis';
import { deviceLabel } from '../engine/deviceInfo';
import { UsageError } from '../domain/errors';
import { gridSize } from '../domain/grid';
import type { SweepSpec } from '../domain/spec';
import { gpuSlotEnv } from '../stack/gpuPlan';
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
export function readStudyFiles(arg: string): StudyFile[] {
  const trimmed = arg.trim();
  let files: string[];
  if (trimmed !== '' && !trimmed.includes(',') && existsSync(trimmed) && statSync(trimmed).isDirectory()) {
    files = readdirSync(trimmed)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => path.join(trimmed, f));
    if (files.length === 0) throw new UsageError(`--study ${arg}: the directory holds no *.yaml sweep file`);
  } else {
    files = trimmed.split(',').map((f) => f.trim()).filter((f) => f !== '');
    if (files.length === 0) throw new UsageError(`--study ${JSON.stringify(arg)}: no sweep file named`);
  }
  const study = files.map((file) => ({ file, spec: readSweepFile(file) }));
  const [first] = study;
  const names = new Map<string, string>();
  for (const s of study) {
    if (s.spec.taskQueue !== first.spec.taskQueue) {
      throw new UsageError(
        `--study: ${s.file}: taskQueue ${JSON.stringify(s.spec.taskQueue)} differs from ${first.file}'s ${JSON.stringify(first.spec.taskQueue)}; the study's sweeps share the GPU slots, which serve one queue`,
      );
    }
    const other = names.get(s.spec.name);
    if (other !== undefined) throw new UsageError(`--study: ${s.file}: name ${JSON.stringify(s.spec.name)} repeats ${other}'s (each sweep's outputs go to a folder of its name)`);
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

/** points.csv's columns: the run's axes (view run_overview), then the eval point (run_points) and one metric (metric_points). */
export const POINT_COLUMNS = [
  'run_id', 'label', 'status', 'activation', 'd_model', 'n_layers', 'width_depth_ratio', 'pruning', 'final_sparsity', 'seed', 'steps',
  'non_embedding_params', 'linear_params', 'avg_nonzero_params', 'step', 'tokens', 'train_loss', 'val_loss', 'lr', 'metric', 'activation_ratio',
  'primary_metric', 'dead_ratio', 'nonzero_params',
] as const;
export type PointRow = Record<(typeof POINT_COLUMNS)[number], string | number | boolean | null>;

/**
 * Every stored eval point of a sweep, one row per (run, step, metric), every run whatever its status
 * (a cancelled run's points are kept too). The query is the `activation_curves` view's join with the
 * run's status, budget and parameter counts added; a point is stored with all its metrics in one
 * transaction (db/points.ts), so the left join only matters for a point measured with none.
 */
export async function sweepPoints(db: Db, sweepId: string): Promise<PointRow[]> {
  const rows = await db
    .selectFrom('run_overview as o')
    .innerJoin('run_points as p', 'p.run_id', 'o.run_id')
    .leftJoin('metric_points as m', (j) => j.onRef('m.run_id', '=', 'p.run_id').onRef('m.step', '=', 'p.step'))
    .select([
      'o.run_id', 'o.label', 'o.status', 'o.activation', 'o.d_model', 'o.n_layers', 'o.width_depth_ratio', 'o.pruning', 'o.final_sparsity', 'o.seed',
      'o.steps', 'o.non_embedding_params', 'o.linear_params', 'o.avg_nonzero_params', 'p.step', 'p.tokens', 'p.train_loss', 'p.val_loss', 'p.lr',
      'm.metric', 'm.activation_ratio', 'p.metric as primary_metric', 'p.dead_ratio', 'p.nonzero_params',
    ])
    .where('o.sweep_id', '=', sweepId)
    .orderBy('o.run_index')
    .orderBy('p.step')
    .orderBy('m.metric')
    .execute();
  return rows as PointRow[];
}

function csvField(v: string | number | boolean | null): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV with a header line; empty cells for nulls. */
export function pointsCsv(rows: PointRow[]): string {
  const lines = [POINT_COLUMNS.join(',')];
  for (const r of rows) lines.push(POINT_COLUMNS.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}

export interface SweepOutputs {
  dir: string;
  /** Files written, relative to `dir`. */
  files: string[];
  completedRuns: number;
  points: number;
  fits: number;
  /** Why there is no report (no completed run), else absent. */
  note?: string;
}

/**
 * Writes into `dir` what `sparsity report <sweepId> --out dir` writes (the same calls in the same
 * order: loadSweepData, fitSweepData, storeFits, runProvenance, renderReport), plus fits.json (the
 * stored fits, as `sparsity fit --json` prints them) and points.csv (sweepPoints). A sweep with no
 * completed run gets points.csv and an empty fits.json, no report. `workers`: fit threads.
 */
export async function writeSweepOutputs(db: Db, sweepId: string, dir: string, opts: { workers?: number; log?: (m: string) => void } = {}): Promise<SweepOutputs> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const data = await loadSweepData(db, sweepId);
  let stored: StoredFit[] = [];
  let note: string | undefined;
  if (data.runs.length > 0) {
    opts.log?.(`${sweepId}: fitting ${data.runs.length} runs ...`);
    const fits = await fitSweepData(data, { workers: opts.workers ?? 2 });
    stored = await storeFits(db, sweepId, fits);
    const provenance = (await runProvenance(db, sweepId)).map((r) => ({ ...r, device: deviceLabel(r.device) }));
    const report = await renderReport({ ...reportInput(data, fits), provenance }, dir);
    files.push(...report.files.map((f) => path.relative(dir, path.resolve(dir, f))));
  } else note = `sweep ${sweepId} has no completed runs to report`;
  writeFileSync(path.join(dir, 'fits.json'), `${JSON.stringify(stored)}\n`);
  const rows = await sweepPoints(db, sweepId);
  writeFileSync(path.join(dir, 'points.csv'), pointsCsv(rows));
  files.push('fits.json', 'points.csv');
  return { dir, files, completedRuns: data.runs.length, points: rows.length, fits: stored.length, ...(note ? { note } : {}) };
}

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
}

export interface StudyOptions {
  gpus: number[];
  slotsPerGpu: number;
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

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
  const slots = o.gpus.length * o.slotsPerGpu;
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
    backend: 'tensorflow',
    checkpointStore: `file://${path.resolve(o.stateDir, 'checkpoints')}`,
    slotEnv: (slot) => ({ SPARSITY_HOME: o.stateDir, ...gpuSlotEnv(o.gpus[slot % o.gpus.length], o.stateDir) }),
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
        await writeSweepOutputs(db, id, dir, { workers: fitWorkers, log: o.log });
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
  try {
    let next = 0;
    for (;;) {
      for (const s of active()) await refresh(s);
      if (o.signal?.aborted || Date.now() >= trainUntil) break;
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
      await sleep(Math.min(5000, trainUntil - Date.now()));
    }
    // The budget is spent: cancel what still trains, as `sparsity cancel` does.
    const left = active();
    if (left.length > 0) {
      budgetRanOut = true;
      o.log(`study budget spent: cancelling ${left.map((s) => s.name).join(', ')}`);
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
  };
}
