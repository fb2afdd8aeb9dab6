// What a sweep leaves behind in a folder: what `sparsity report` draws, plus the data behind it.
//   <dir>/index.html, *.svg, *.png   the report (analysis/report.ts)
//   <dir>/fits.json                  the stored fits, as `sparsity fit --json` prints them
//   <dir>/points.csv                 every stored eval point, one row per (run, step, metric)
// Used by `sparsity report`, `sparsity study` and `bench gpu --study`.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/connect';
import { loadSweepData, storeFits, type StoredFit } from '../db/fits';
import { runProvenance } from '../db/provenance';
import { fitSweepData, reportInput } from '../analysis/sweepFits';
import { renderReport } from '../analysis';
import { deviceLabel } from '../engine/deviceInfo';
import { UsageError } from '../domain/errors';

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

/** Files renderReport writes (analysis/report.ts), removed when a sweep has no report to replace them. */
const REPORT_FILE = /^(report\.json|[a-z-]+\.(svg|png))$/;

function rowsNote(rows: PointRow[]): string {
  const runs = new Map<string, string>();
  const points = new Set<string>();
  for (const r of rows) {
    runs.set(String(r.run_id), String(r.status));
    points.add(`${String(r.run_id)}@${String(r.step)}`);
  }
  const byStatus = [...runs.values()].reduce<Record<string, number>>((m, st) => ({ ...m, [st]: (m[st] ?? 0) + 1 }), {});
  const parts = Object.entries(byStatus).map(([st, n]) => `${n} ${st}`);
  return runs.size === 0 ? 'no run stored a point' : `${points.size} eval points of ${runs.size} runs (${parts.join(', ')})`;
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
 * completed run gets points.csv and an empty fits.json, no report (or, with `requireRuns`, a UsageError
 * before anything is written). `workers`: fit threads.
 */
export async function writeSweepOutputs(
  db: Db,
  sweepId: string,
  dir: string,
  opts: { workers?: number; log?: (m: string) => void; requireRuns?: boolean; curveFrom?: number } = {},
): Promise<SweepOutputs> {
  const data = await loadSweepData(db, sweepId);
  if (opts.requireRuns && data.runs.length === 0) throw new UsageError(`sweep ${sweepId} has no completed runs to report`);
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  let stored: StoredFit[] = [];
  let note: string | undefined;
  const rows = await sweepPoints(db, sweepId);
  if (data.runs.length > 0) {
    opts.log?.(`${sweepId}: fitting ${data.runs.length} runs ...`);
    const fits = await fitSweepData(data, { workers: opts.workers ?? 2, curveFrom: opts.curveFrom });
    stored = await storeFits(db, sweepId, fits);
    const provenance = (await runProvenance(db, sweepId)).map((r) => ({ ...r, device: deviceLabel(r.device) }));
    const report = await renderReport({ ...reportInput(data, fits), provenance }, dir);
    files.push(...report.files.map((f) => path.relative(dir, path.resolve(dir, f))));
  } else {
    note = `sweep ${sweepId} has no completed runs to report`;
    // Replaces a report an earlier sweep may have left in this folder, and says why there is none.
    for (const f of readdirSync(dir)) if (REPORT_FILE.test(f)) rmSync(path.join(dir, f), { force: true });
    writeFileSync(
      path.join(dir, 'index.html'),
      `<!doctype html><meta charset="utf-8"><title>${sweepId}</title><p>Sweep <code>${sweepId}</code> has no completed runs, so there is no report: ${rowsNote(rows)}. Its stored points are in <a href="points.csv">points.csv</a>.</p>\n`,
    );
    files.push('index.html');
  }
  writeFileSync(path.join(dir, 'fits.json'), `${JSON.stringify(stored)}\n`);
  writeFileSync(path.join(dir, 'points.csv'), pointsCsv(rows));
  files.push('fits.json', 'points.csv');
  return { dir, files, completedRuns: data.runs.length, points: rows.length, fits: stored.length, ...(note ? { note } : {}) };
}
