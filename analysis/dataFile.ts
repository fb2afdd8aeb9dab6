/**
 * Reading points to fit from files: JSON objects of named arrays (as the Sparsing Law authors
 * publish them: {"token_passed": [...], "activation_ratio": [...]}) or CSV with a header row.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fitPoints, outOfSampleChinchilla, outOfSampleCurve, type ChinchillaOptions, type FitResult, type OutOfSampleResult } from './fit';
import { isLawName, LAW_NAMES, type LawName } from './laws';

export type Columns = Record<string, number[]>;

export interface DataTable {
  columns: Columns;
  /** column names in file order */
  names: string[];
  rows: number;
}

/** Splits one CSV line, honouring double quotes ("a,b" and "" escapes). */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '', quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { out.push(cur); cur = ''; }
    else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

/**
 * Parses CSV text with a header. Cells that are not numbers become NaN (only an error when that
 * column is used: see requireColumn).
 */
export function parseCsv(text: string, source = 'CSV'): DataTable {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error(`${source}: empty file`);
  const names = splitCsvLine(lines[0]);
  const columns: Columns = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  lines.slice(1).forEach((line, r) => {
    const cells = splitCsvLine(line);
    if (cells.length !== names.length) throw new Error(`${source}: row ${r + 2} has ${cells.length} cells, the header has ${names.length}`);
    names.forEach((n, j) => columns[n].push(cells[j] === '' ? NaN : Number(cells[j])));
  });
  return { columns, names, rows: lines.length - 1 };
}

/** Parses a JSON object whose values are equal-length arrays of numbers. */
export function parseJsonColumns(text: string, source = 'JSON'): DataTable {
  let data: unknown;
  try { data = JSON.parse(text); } catch (e) { throw new Error(`${source}: not valid JSON (${(e as Error).message})`); }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${source}: expected an object of named arrays, e.g. {"x": [..], "y": [..]}`);
  const columns: Columns = {};
  const names: string[] = [];
  let rows = -1;
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    if (!Array.isArray(v)) continue; // non-array metadata is ignored
    const arr = v.map((e) => (typeof e === 'number' ? e : typeof e === 'string' && e.trim() !== '' ? Number(e) : NaN));
    if (rows >= 0 && arr.length !== rows) throw new Error(`${source}: column "${k}" has ${arr.length} values, earlier columns have ${rows}`);
    rows = arr.length;
    columns[k] = arr;
    names.push(k);
  }
  if (names.length === 0) throw new Error(`${source}: no array-valued fields found`);
  return { columns, names, rows };
}

export function readDataFile(file: string): DataTable {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new Error(`cannot read ${file}: ${(e as Error).message}`); }
  const ext = path.extname(file).toLowerCase();
  const trimmed = text.trimStart();
  if (ext === '.json' || (ext !== '.csv' && (trimmed.startsWith('{') || trimmed.startsWith('[')))) return parseJsonColumns(text, file);
  return parseCsv(text, file);
}

/** The named column, every value a finite number; errors name the column and the bad row. */
export function requireColumn(t: DataTable, name: string, source: string, role: string): number[] {
  const col = t.columns[name];
  if (!col) throw new Error(`${source}: no column "${name}" (needed for ${role}); columns are: ${t.names.map((n) => JSON.stringify(n)).join(', ')}`);
  const bad = col.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${source}: column "${name}" row ${bad + 1} is not a finite number`);
  return col;
}

export interface FitPointsFileOptions {
  law: LawName | string;
  /** x column (curve laws). Default: token_passed when present, else the first column. */
  x?: string;
  /** y column. Default: activation_ratio when present, else the second column; chinchilla: `loss`. */
  y?: string;
  /** multiply x by this. Default 1e-9 when x is `token_passed` (the paper fits tokens in billions), else 1. */
  xScale?: number;
  /** chinchilla: model-size column (default `Model Size`) */
  n?: string;
  /**
   * chinchilla: training-tokens column. Default: when absent and a `Training FLOP` column exists,
   * D = Training FLOP / (6·N) (Epoch's data).
   */
  d?: string;
  /**
   * chinchilla: drop this many highest-loss points before fitting. Default 5 for chinchilla
   * (Epoch's procedure, leaving 240 of their 245 points); pass 0 to keep all.
   */
  dropHighest?: number;
  /** chinchilla: starting points [a, b, e, alpha, beta] (default Epoch's 4,500-point grid) */
  starts?: number[][];
  bootstrap?: number;
  workers?: number;
  seed?: number;
  ciLevel?: number;
  /**
   * Also report out-of-sample error: refit on all but this fraction (the last points of a curve;
   * for chinchilla the largest models) and predict the held-out rest.
   */
  holdout?: number;
}

export interface HeldOutError {
  trainN: number;
  testN: number;
  mae: number;
  mse: number;
  rmse: number;
  mape: number;
}

export type FileFitResult = FitResult & { outOfSample?: HeldOutError };

const heldOut = (o: OutOfSampleResult): HeldOutError => ({ trainN: o.trainN, testN: o.testN, mae: o.mae, mse: o.mse, rmse: o.rmse, mape: o.mape });

function checkHoldout(h: number | undefined): void {
  if (h !== undefined && !(h > 0 && h < 1)) throw new Error(`--holdout must be a fraction in (0, 1), got ${h}`);
}

/** Reads a file and fits a law to it (the `sparsity fit-points` command). */
export async function fitPointsFromFile(file: string, opts: FitPointsFileOptions): Promise<FileFitResult> {
  checkHoldout(opts.holdout);
  if (!isLawName(opts.law)) throw new Error(`unknown law "${opts.law}"; choose one of: ${LAW_NAMES.join(', ')}`);
  const law: LawName = opts.law;
  const t = readDataFile(file);
  const fitOpts: ChinchillaOptions = { starts: opts.starts, bootstrap: opts.bootstrap, workers: opts.workers, seed: opts.seed, ciLevel: opts.ciLevel };
  if (opts.xScale !== undefined && !(Number.isFinite(opts.xScale) && opts.xScale > 0)) throw new Error(`--x-scale must be a positive number, got ${opts.xScale}`);
  if (law === 'chinchilla') {
    const nName = opts.n ?? 'Model Size';
    const yName = opts.y ?? 'loss';
    const N = requireColumn(t, nName, file, 'model size N');
    const L = requireColumn(t, yName, file, 'loss L');
    let D: number[];
    if (opts.d !== undefined || !t.columns['Training FLOP']) D = requireColumn(t, opts.d ?? 'D', file, 'training tokens D');
    else D = requireColumn(t, 'Training FLOP', file, 'training FLOP C (D = C / 6N)').map((c, i) => c / (6 * N[i]));
    const scale = opts.xScale ?? 1;
    let points = N.map((nv, i) => ({ N: nv * scale, D: D[i], L: L[i] }));
    const drop = opts.dropHighest ?? 5;
    if (!(Number.isInteger(drop) && drop >= 0 && drop < points.length)) throw new Error(`--drop-highest must be an integer in [0, ${points.length - 1}], got ${drop}`);
    if (drop > 0) {
      const order = points.map((_, i) => i).sort((a, b) => points[b].L - points[a].L);
      const dropSet = new Set(order.slice(0, drop));
      points = points.filter((_, i) => !dropSet.has(i));
    }
    const r = await fitPoints({ law, points }, fitOpts);
    if (opts.holdout === undefined) return { ...r, dropped: drop };
    const sizes = points.map((p) => p.N).sort((a, b) => a - b);
    const maxTrainN = sizes[Math.max(0, Math.floor(sizes.length * (1 - opts.holdout)) - 1)];
    const o = await outOfSampleChinchilla(points, { ...fitOpts, maxTrainN });
    return { ...r, dropped: drop, outOfSample: heldOut(o) };
  }
  const xName = opts.x ?? (t.columns.token_passed ? 'token_passed' : t.names[0]);
  const yName = opts.y ?? (t.columns.activation_ratio ? 'activation_ratio' : t.names[1]);
  if (yName === undefined) throw new Error(`${file}: needs at least two columns (x and y)`);
  const scale = opts.xScale ?? (xName === 'token_passed' ? 1e-9 : 1);
  const x = requireColumn(t, xName, file, 'x').map((v) => v * scale);
  const y = requireColumn(t, yName, file, 'y');
  const r = await fitPoints({ law, x, y }, fitOpts);
  if (opts.holdout === undefined) return r;
  const o = await outOfSampleCurve(law, x, y, { ...fitOpts, trainFraction: 1 - opts.holdout });
  return { ...r, outOfSample: heldOut(o) };
}

/** The compact JSON the CLI prints with --json (FitResult carries more; NaN becomes null). */
export function fitResultJson(r: FileFitResult): Record<string, unknown> {
  return {
    ...(r.outOfSample ? { outOfSample: r.outOfSample } : {}),
    law: r.law, params: r.params, ci: r.ci, flags: r.flags, mae: r.mae, mse: r.mse, r2: r.r2, aic: r.aic, bic: r.bic,
    n: r.n, objective: r.objective, status: r.status, message: r.message, ciMethod: r.ciMethod, ciLevel: r.ciLevel,
    ...(r.bootstrap ? { bootstrap: r.bootstrap } : {}), ...(r.dropped !== undefined ? { dropped: r.dropped } : {}),
  };
}
