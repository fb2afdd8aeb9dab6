/**
 * Reading points to fit from files: JSON objects of named arrays (as the Sparsing Law authors
 * publish them: {"token_passed": [...], "activation_ratio": [...]}) or CSV with a header row.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fitPoints, outOfSampleChinchilla, outOfSampleCurve, type ChinchillaOptions, type FitResult, type OutOfSampleResult } from './fit';
import { isLawName, LAW_NAMES, type LawName } from './laws';
import { fitSparseChinchilla, frantarT5Point, type SparsePoint } from './sparseChinchilla';

export type Columns = Record<string, number[]>;

export interface DataTable {
  columns: Columns;
  /** column names in file order */
  names: string[];
  rows: number;
  /** columns read by requireColumn so far (to report the ones ignored) */
  used?: Set<string>;
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
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`${source}: column "${n}" appears twice in the header; which one is meant is ambiguous`);
    seen.add(n);
  }
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
  t.used?.add(name);
  return col;
}

export type SparsePreset = 'frantar-t5';
export const SPARSE_PRESETS: readonly SparsePreset[] = ['frantar-t5'];

export interface FitPointsFileOptions {
  law: LawName | string;
  /** x column (curve laws). Default: token_passed when present, else the first column. */
  x?: string;
  /** y column. Default: activation_ratio when present, else the second column; chinchilla and sparse-chinchilla: `loss`. */
  y?: string;
  /** multiply x by this (curve laws) or N by this (chinchilla). Default 1e-9 when x is `token_passed` (the paper fits tokens in billions), else 1. */
  xScale?: number;
  /** chinchilla / sparse-chinchilla: model-size column (default `Model Size` for chinchilla, `N` for sparse-chinchilla) */
  n?: string;
  /**
   * chinchilla / sparse-chinchilla: training-tokens column (default `D`). Chinchilla: when there is
   * no D column and a `Training FLOP` column exists, D = Training FLOP / (6·N) (Epoch's data); a
   * file with both that disagree is refused.
   */
  d?: string;
  /** sparse-chinchilla: sparsity column (default `S`) */
  s?: string;
  /**
   * sparse-chinchilla: a documented column mapping instead of s/n/d. `frantar-t5`: Frantar et al.'s
   * T5 file (columns sparsity, scale, steps, val-loss): S = sparsity, N = 24·12·768²·scale·(1−S)/1e6
   * (non-zero parameters, millions), D = steps/1e5, L = val-loss.
   */
  preset?: SparsePreset | string;
  /**
   * chinchilla: drop this many highest-loss points before fitting. Default 0 (nothing is dropped
   * unless asked); Epoch's procedure on their data is 5. The dropped rows are listed in the result.
   */
  dropHighest?: number;
  /** chinchilla: starting points [a, b, e, alpha, beta] (default Epoch's 4,500-point grid) */
  starts?: number[][];
  /** chinchilla: starts of each bootstrap refit (Epoch's procedure: [HOFFMANN_RAW]); default the optimum, Hoffmann's fit and every 500th grid point */
  bootstrapStarts?: number[][];
  /** bootstrap replicates; default DEFAULT_BOOTSTRAP[law]; 0 = asymptotic intervals (curve laws) or none */
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

/**
 * Bootstrap replicates `fit-points` draws unless told otherwise. Rows are resampled (each row of a
 * file is taken as an independent measurement). Chinchilla's and the sparse law's replicates are
 * refitted from the optimum and a few spread starts, so they cost far more than a curve's.
 */
export const DEFAULT_BOOTSTRAP: Record<LawName, number> = {
  'relu-logspace': 200, 'silu-power': 200, log: 200, sigmoid: 200, power: 200, 'width-depth': 200, chinchilla: 200, 'sparse-chinchilla': 100,
};

export interface HeldOutError {
  trainN: number;
  testN: number;
  mae: number;
  mse: number;
  rmse: number;
  mape: number;
}

/** A row of the file left out of the fit, with its 1-based data row number and values. */
export interface DroppedRow { row: number; reason: string; values: Record<string, number> }

export type FileFitResult = FitResult & {
  outOfSample?: HeldOutError;
  /** rows left out of the fit (e.g. --drop-highest), each with why; empty when every row was used */
  droppedRows: DroppedRow[];
  /** columns of the file that the fit did not read */
  ignoredColumns: string[];
  /** what each variable is and its unit, e.g. {x: "token_passed × 1e-9 (billions of tokens)"} */
  units: Record<string, string>;
  /** things the user should look at: a likely wrong unit, a column mapping guessed by default */
  warnings: string[];
};

const heldOut = (o: OutOfSampleResult): HeldOutError => ({ trainN: o.trainN, testN: o.testN, mae: o.mae, mse: o.mse, rmse: o.rmse, mape: o.mape });

function checkHoldout(h: number | undefined): void {
  if (h !== undefined && !(h > 0 && h < 1)) throw new Error(`--holdout must be a fraction in (0, 1), got ${h}`);
}

function rowValues(t: DataTable, i: number): Record<string, number> {
  return Object.fromEntries(t.names.map((n) => [n, t.columns[n][i]]));
}

/** The Sparsing-Law curve laws expect tokens in billions (their bounds and starts are set for it). */
const BILLIONS_LAWS = new Set<string>(['relu-logspace', 'silu-power']);

/** Reads a file and fits a law to it (the `sparsity fit-points` command). Errors name the bad column, row or option. */
export async function fitPointsFromFile(file: string, opts: FitPointsFileOptions): Promise<FileFitResult> {
  checkHoldout(opts.holdout);
  if (!isLawName(opts.law)) throw new Error(`unknown law "${opts.law}"; choose one of: ${LAW_NAMES.join(', ')}`);
  const law: LawName = opts.law;
  const t = readDataFile(file);
  t.used = new Set();
  const bootstrap = opts.bootstrap ?? DEFAULT_BOOTSTRAP[law];
  if (!(Number.isInteger(bootstrap) && bootstrap >= 0)) throw new Error(`--bootstrap must be a whole number ≥ 0, got ${bootstrap}`);
  const fitOpts: ChinchillaOptions = { starts: opts.starts, bootstrap, workers: opts.workers, seed: opts.seed, ciLevel: opts.ciLevel, bootstrapStarts: opts.bootstrapStarts };
  if (opts.xScale !== undefined && !(Number.isFinite(opts.xScale) && opts.xScale > 0)) throw new Error(`--x-scale must be a positive number, got ${opts.xScale}`);
  if (law !== 'chinchilla' && opts.dropHighest) throw new Error(`--drop-highest applies to chinchilla only (law ${law})`);
  if (law !== 'sparse-chinchilla' && (opts.s !== undefined || opts.preset !== undefined)) throw new Error(`--s and --preset apply to sparse-chinchilla only (law ${law})`);
  const warnings: string[] = [];
  const droppedRows: DroppedRow[] = [];
  const finish = (r: FitResult, units: Record<string, string>, extra: { outOfSample?: HeldOutError } = {}): FileFitResult => ({
    ...r, ...extra, droppedRows, ignoredColumns: t.names.filter((n) => !t.used!.has(n)), units, warnings,
  });

  if (law === 'sparse-chinchilla') {
    if (opts.holdout !== undefined) throw new Error('--holdout is not supported for sparse-chinchilla');
    let points: SparsePoint[];
    let units: Record<string, string>;
    if (opts.preset !== undefined) {
      if (opts.preset !== 'frantar-t5') throw new Error(`unknown --preset "${opts.preset}"; choose one of: ${SPARSE_PRESETS.join(', ')}`);
      if (opts.s !== undefined || opts.n !== undefined || opts.d !== undefined) throw new Error('--preset frantar-t5 sets S, N and D itself: drop --s, --n and --d');
      const S = requireColumn(t, 'sparsity', file, 'sparsity S');
      const scale = requireColumn(t, 'scale', file, 'model scale');
      const steps = requireColumn(t, 'steps', file, 'training steps');
      const L = requireColumn(t, opts.y ?? 'val-loss', file, 'loss L');
      points = S.map((sv, i) => frantarT5Point({ sparsity: sv, scale: scale[i], steps: steps[i], loss: L[i] }));
      units = { S: 'sparsity (fraction of weights zero at the end of training)', N: 'non-zero parameters in millions: 24·12·768²·scale·(1−S)/1e6', D: 'training steps / 1e5', L: `${opts.y ?? 'val-loss'}` };
      if (t.names.includes('')) t.used.add(''); // the file's unnamed row index
    } else {
      const sName = opts.s ?? 'S', nName = opts.n ?? 'N', dName = opts.d ?? 'D', yName = opts.y ?? 'loss';
      if (!t.columns[sName] && t.columns.sparsity && t.columns.scale && t.columns.steps) {
        throw new Error(`${file}: no column "${sName}"; this looks like Frantar et al.'s T5 file (sparsity, scale, steps): pass --preset frantar-t5, or name the columns with --s, --n and --d`);
      }
      const S = requireColumn(t, sName, file, 'sparsity S');
      const N = requireColumn(t, nName, file, 'non-zero parameters N');
      const D = requireColumn(t, dName, file, 'training data D');
      const L = requireColumn(t, yName, file, 'loss L');
      const xs = opts.xScale ?? 1;
      points = S.map((sv, i) => ({ S: sv, N: N[i] * xs, D: D[i], L: L[i] }));
      units = { S: `${sName} (sparsity fraction)`, N: `${nName}${xs !== 1 ? ` × ${xs}` : ''} (non-zero parameters, as given)`, D: `${dName} (as given)`, L: yName };
    }
    const bad = points.findIndex((p) => !(p.S >= 0 && p.S < 1));
    if (bad >= 0) throw new Error(`${file}: row ${bad + 1}: sparsity S must be in [0, 1), got ${points[bad].S} (a percentage? divide by 100)`);
    const r = await fitSparseChinchilla(points, { bootstrap, workers: opts.workers, seed: opts.seed, ciLevel: opts.ciLevel });
    return finish(r, units);
  }

  if (law === 'chinchilla') {
    const nName = opts.n ?? 'Model Size';
    const yName = opts.y ?? 'loss';
    const N = requireColumn(t, nName, file, 'model size N');
    const L = requireColumn(t, yName, file, 'loss L');
    const dName = opts.d ?? 'D';
    const hasD = Boolean(t.columns[dName]), hasC = Boolean(t.columns['Training FLOP']);
    let D: number[];
    let dUnit: string;
    if (hasD || opts.d !== undefined || !hasC) {
      D = requireColumn(t, dName, file, 'training tokens D');
      dUnit = `${dName} (training tokens)`;
      if (hasC) {
        const C = requireColumn(t, 'Training FLOP', file, 'training FLOP C');
        const off = D.map((d, i) => Math.abs(d - C[i] / (6 * N[i])) / d).findIndex((e) => !(e <= 0.01));
        if (off >= 0) {
          throw new Error(`${file}: columns "${dName}" and "Training FLOP" disagree at row ${off + 1} (D = ${D[off]}, Training FLOP / (6·N) = ${C[off] / (6 * N[off])}); which one to use is ambiguous: remove one column`);
        }
      }
    } else {
      D = requireColumn(t, 'Training FLOP', file, 'training FLOP C (D = C / 6N)').map((c, i) => c / (6 * N[i]));
      dUnit = 'Training FLOP / (6·N) (training tokens)';
    }
    const scale = opts.xScale ?? 1;
    let idx = N.map((_, i) => i);
    const drop = opts.dropHighest ?? 0;
    if (!(Number.isInteger(drop) && drop >= 0 && drop < N.length)) throw new Error(`--drop-highest must be an integer in [0, ${N.length - 1}], got ${drop}`);
    if (drop > 0) {
      const order = [...idx].sort((a, b) => L[b] - L[a]);
      const dropSet = new Set(order.slice(0, drop));
      for (const i of order.slice(0, drop)) droppedRows.push({ row: i + 1, reason: `--drop-highest ${drop}: among the ${drop} highest losses`, values: rowValues(t, i) });
      idx = idx.filter((i) => !dropSet.has(i));
    }
    const points = idx.map((i) => ({ N: N[i] * scale, D: D[i], L: L[i] }));
    const units = { N: `${nName}${scale !== 1 ? ` × ${scale}` : ''} (parameters)`, D: dUnit, L: yName };
    const maxN = Math.max(...points.map((p) => p.N)), maxD = Math.max(...points.map((p) => p.D));
    if (maxN < 1e4) warnings.push(`N is at most ${maxN}: it looks like millions or billions of parameters; the start grid assumes raw counts (scale with --x-scale)`);
    if (maxD < 1e4) warnings.push(`D is at most ${maxD}: it looks like millions or billions of tokens; the start grid assumes raw token counts`);
    const r = await fitPoints({ law, points }, fitOpts);
    const withDrop = { ...r, dropped: drop };
    if (opts.holdout === undefined) return finish(withDrop, units);
    const sizes = points.map((p) => p.N).sort((a, b) => a - b);
    const maxTrainN = sizes[Math.max(0, Math.floor(sizes.length * (1 - opts.holdout)) - 1)];
    const o = await outOfSampleChinchilla(points, { ...fitOpts, bootstrap: 0, maxTrainN });
    return finish(withDrop, units, { outOfSample: heldOut(o) });
  }
  const xName = opts.x ?? (t.columns.token_passed ? 'token_passed' : t.names[0]);
  const yName = opts.y ?? (t.columns.activation_ratio ? 'activation_ratio' : t.names[1]);
  if (yName === undefined) throw new Error(`${file}: needs at least two columns (x and y)`);
  if (opts.x === undefined && xName !== 'token_passed') warnings.push(`x column not given: using the first column "${xName}"`);
  if (opts.y === undefined && yName !== 'activation_ratio') warnings.push(`y column not given: using the second column "${yName}"`);
  const scale = opts.xScale ?? (xName === 'token_passed' ? 1e-9 : 1);
  const x = requireColumn(t, xName, file, 'x').map((v) => v * scale);
  const y = requireColumn(t, yName, file, 'y');
  const billions = BILLIONS_LAWS.has(law);
  const units: Record<string, string> = {
    x: `${xName}${scale !== 1 ? ` × ${scale}` : ''}${billions ? (scale === 1e-9 ? ' (billions of tokens)' : ' (the law expects billions of tokens)') : ''}`,
    y: yName,
  };
  const maxX = Math.max(...x);
  if (billions && maxX > 1e6) warnings.push(`x reaches ${maxX.toExponential(3)}: ${law} expects tokens in billions; these look like raw tokens (try --x-scale 1e-9)`);
  if (billions && maxX < 1e-3) warnings.push(`x is at most ${maxX.toExponential(3)}: ${law} expects tokens in billions; check --x-scale`);
  const r = await fitPoints({ law, x, y }, fitOpts);
  if (opts.holdout === undefined) return finish(r, units);
  const o = await outOfSampleCurve(law, x, y, { ...fitOpts, bootstrap: 0, trainFraction: 1 - opts.holdout });
  return finish(r, units, { outOfSample: heldOut(o) });
}

/** The compact JSON the CLI prints with --json (FitResult carries more; NaN becomes null). */
export function fitResultJson(r: FileFitResult | FitResult): Record<string, unknown> {
  const f = r as Partial<FileFitResult>;
  return {
    ...(f.outOfSample ? { outOfSample: f.outOfSample } : {}),
    law: r.law, status: r.status, reason: r.reason, params: r.params, ci: r.ci, flags: r.flags, mae: r.mae, mse: r.mse, r2: r.r2, aic: r.aic, bic: r.bic,
    n: r.n, objective: r.objective, converged: r.converged, iterations: r.iterations, message: r.message, ciMethod: r.ciMethod, ciLevel: r.ciLevel,
    ...(r.bootstrap ? { bootstrap: r.bootstrap } : {}), ...(r.dropped !== undefined ? { dropped: r.dropped } : {}),
    ...(f.droppedRows ? { droppedRows: f.droppedRows } : {}), ...(f.ignoredColumns ? { ignoredColumns: f.ignoredColumns } : {}),
    ...(f.units ? { units: f.units } : {}), ...(f.warnings ? { warnings: f.warnings } : {}),
  };
}
