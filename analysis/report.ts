/**
 * HTML report with Vega-Lite charts (SVG for the page, PNG via resvg for slides and chat).
 *
 * renderReport(input, outDir) writes:
 *   outDir/index.html                  summary tables + the charts
 *   outDir/activation-vs-tokens.{svg,png}
 *   outDir/width-depth.{svg,png}       (when runs span more than one width/depth ratio or a fit is given)
 *   outDir/loss-vs-params.{svg,png}    (when there are loss points)
 *   outDir/layer-heatmap.{svg,png}     (when there are layer points)
 *   outDir/journey-matters.{svg,png}   (when a Journey Matters comparison is given: loss against N̄, N_final, N_dense)
 * A fit whose status is not `ok` is drawn in every panel as what it is: dashed, labelled with its
 * status, never with a band (no interval is claimed); a `failed` fit is not drawn at all.
 *   outDir/report.json                 the input's fits, for machines
 * ReportInput is plain data, so it can be filled from SQL rows.
 */
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { TopLevelSpec } from 'vega-lite';
import type * as VegaModule from 'vega';
import type * as VegaLiteModule from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { isoLossD, computeOptimal, predictLoss } from './chinchilla';
import { chinchillaParams, predictBand, type FitResult } from './fit';
import { JOURNEY_N_KEY, journeyVerdictText, N_DEFINITION_LABEL, predictFromFit, type JourneyComparison, type JourneyRun, type NDefinition } from './journey';
import { logspace, linspace } from './stats';

export interface ReportRun {
  id: string;
  /** short name shown in legends (default: id) */
  label?: string;
  /** activation function, e.g. 'relu', 'silu' */
  activation: string;
  /** dense non-embedding parameter count */
  params: number;
  /** average non-zero parameter count over training, N̄ (default: params) */
  avgParams?: number;
  dModel: number;
  nLayers: number;
  /** extra columns for the run table (config summary) */
  config?: Record<string, string | number | boolean | null>;
}

/** One evaluation point of a run (model-level activation ratio). */
export interface ReportPoint {
  runId: string;
  step: number;
  tokens: number;
  activationRatio: number;
  /** evaluation loss at this point, if measured */
  loss?: number;
}

/** Per-layer activation ratio at one evaluation point. */
export interface ReportLayerPoint {
  runId: string;
  step: number;
  layer: number;
  activationRatio: number;
}

/** A curve law fitted to one run's activation ratio against tokens. */
export interface ReportCurveFit {
  runId: string;
  /** the fit's x = tokens · xScale (default 1e-9: billions of tokens, as in the Sparsing Law paper) */
  xScale?: number;
  result: FitResult;
  /** the sweep-fit group the fit pools (shown in the fit table) */
  group?: string;
}

/** A fit that pools several runs (width/depth, chinchilla), with its group. */
export interface ReportGroupFit {
  group: string;
  /** the runs it pools (default: all) */
  runIds?: string[];
  result: FitResult;
}

/** A Journey Matters comparison (analysis/journey.ts) with the runs it was fitted to. */
export interface ReportJourney {
  group: string;
  runs: Array<JourneyRun & { label?: string; pruned?: boolean }>;
  comparison: JourneyComparison;
}

export interface ReportInput {
  title: string;
  subtitle?: string;
  runs: ReportRun[];
  points: ReportPoint[];
  layerPoints?: ReportLayerPoint[];
  curveFits?: ReportCurveFit[];
  /** segmented fit of activation ratio against r = dModel / nLayers (one; see widthDepthFits for several groups) */
  widthDepthFit?: FitResult;
  widthDepthFits?: ReportGroupFit[];
  /** points of the width/depth chart; default: each run's last point */
  widthDepthPoints?: Array<{ runId: string; ratio: number; activationRatio: number }>;
  /** Chinchilla fit of loss against (N̄, D) (one; see chinchillaFits for several groups) */
  chinchillaFit?: FitResult;
  chinchillaFits?: ReportGroupFit[];
  /** further fits for the table only (e.g. sparse-chinchilla) */
  otherFits?: Array<{ name: string; result: FitResult }>;
  /** Journey Matters comparisons, one figure each */
  journeys?: ReportJourney[];
  /** points of the loss chart; default: every point with a loss, N = run's avgParams ?? params */
  lossPoints?: Array<{ runId: string; avgParams: number; tokens: number; loss: number }>;
  /** maximum number of runs in the heatmap (default 8) */
  heatmapRuns?: number;
  /** what trained each run (runs.backend/device, the worker build); a table when given */
  provenance?: ReportProvenanceRow[];
}

/** One run's provenance, as stored (db/provenance.ts runProvenance). */
export interface ReportProvenanceRow {
  runId: string;
  label?: string;
  backend: string | null;
  /** e.g. `cpu Intel Xeon x16 (wasm)`, `gpu NVIDIA H200 (140 GiB) tf32=on` */
  device: string;
  host: string | null;
  buildId: string | null;
  gitCommit: string | null;
  gitDirty: boolean | null;
  /** its segments were trained by more than one build (listed in `builds`) */
  mixedBuilds: boolean;
  builds: string[];
}

type Spec = TopLevelSpec;

/** An activation ratio lies in [0, 1]: a band from a poorly identified fit is cut there, not drawn to ±300. */
const clampRatio = (v: number) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : v);
type Row = Record<string, string | number | null>;

const FONT = 'DejaVu Sans';
const CONFIG = {
  font: FONT,
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 12, symbolOpacity: 1 },
  title: { fontSize: 14, anchor: 'start' as const, offset: 10 },
  view: { stroke: '#ccc' },
};

// ---- ESM loading (vega and vega-lite are ESM with top-level await; this package is CommonJS) ----

const dynamicImport = new Function('s', 'return import(s)') as (s: string) => Promise<unknown>;

function packageEntry(name: string): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'node_modules', name, 'package.json');
    if (fs.existsSync(pj)) {
      const meta = JSON.parse(fs.readFileSync(pj, 'utf8')) as { exports?: Record<string, unknown>; module?: string; main?: string };
      const dot = meta.exports?.['.'];
      let rel: string | undefined;
      if (typeof dot === 'string') rel = dot;
      else if (dot && typeof dot === 'object') {
        const o = dot as Record<string, unknown>;
        rel = [o.import, o.default, o.node].find((v): v is string => typeof v === 'string');
      }
      rel = rel ?? meta.module ?? meta.main ?? 'index.js';
      return pathToFileURL(path.join(dir, 'node_modules', name, rel)).href;
    }
    const up = path.dirname(dir);
    if (up === dir) return name;
    dir = up;
  }
}

let libs: Promise<{ vega: typeof VegaModule; vl: typeof VegaLiteModule }> | null = null;
function loadLibs() {
  libs ??= (async () => ({
    vega: (await dynamicImport(packageEntry('vega'))) as typeof VegaModule,
    vl: (await dynamicImport(packageEntry('vega-lite'))) as typeof VegaLiteModule,
  }))();
  return libs;
}

/** Renders a Vega-Lite spec to SVG text (headless vega View). */
export async function specToSvg(spec: Spec): Promise<string> {
  const { vega, vl } = await loadLibs();
  const compiled = vl.compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as Spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG at 2× with a white background. */
export function svgToPng(svg: string): Buffer {
  const r = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: FONT, sansSerifFamily: FONT },
  });
  return Buffer.from(r.render().asPng());
}

// ---- chart specs ----

function runLabel(r: ReportRun): string {
  return r.label ?? r.id;
}

function sizeLabel(params: number): string {
  if (params >= 1e9) return `${+(params / 1e9).toPrecision(3)}B`;
  if (params >= 1e6) return `${+(params / 1e6).toPrecision(3)}M`;
  if (params >= 1e3) return `${+(params / 1e3).toPrecision(3)}K`;
  return String(params);
}

/** Activation ratio against tokens, one panel per activation function, colour = run (size). */
export function activationVsTokensSpec(input: ReportInput): Spec | null {
  const runs = new Map(input.runs.map((r) => [r.id, r]));
  const pts = input.points.filter((p) => runs.has(p.runId));
  if (pts.length === 0) return null;
  const acts = [...new Set(input.runs.map((r) => r.activation))].sort();
  // A run whose curve fit is not ok carries the fit's status in its legend entry too.
  const fitStatus = new Map((input.curveFits ?? []).map((f) => [f.runId, f.result.status]));
  const name = (id: string) => {
    const r = runs.get(id)!;
    const st = fitStatus.get(id);
    return `${runLabel(r)} (${sizeLabel(r.params)})${st && st !== 'ok' ? ` — ${st} fit` : ''}`;
  };
  const panels = acts.map((act) => {
    const ap = pts.filter((p) => runs.get(p.runId)!.activation === act);
    const data: Row[] = ap.map((p) => ({ run: name(p.runId), tokens: p.tokens, ratio: p.activationRatio, params: runs.get(p.runId)!.params }));
    const curves: Row[] = [];
    for (const f of input.curveFits ?? []) {
      const run = runs.get(f.runId);
      // A fit that is not ok is still drawn, dashed and labelled with its status, never with a band.
      if (!run || run.activation !== act || f.result.status === 'failed') continue;
      const rp = ap.filter((p) => p.runId === f.runId);
      if (rp.length === 0) continue;
      const scale = f.xScale ?? 1e-9;
      const lo = Math.min(...rp.map((p) => p.tokens)), hi = Math.max(...rp.map((p) => p.tokens));
      const xs = linspace(lo, hi, 80);
      for (const b of predictBand(f.result, xs.map((t) => t * scale))) {
        curves.push({ run: name(f.runId), tokens: b.x / scale, fit: b.y, lo: clampRatio(b.lo), hi: clampRatio(b.hi), law: f.result.law, status: f.result.status, known: f.result.status === 'ok' ? 1 : 0 });
      }
    }
    const color = { field: 'run', type: 'nominal' as const, title: 'run (size)', sort: { field: 'params' }, legend: { labelLimit: 360 } };
    const x = { field: 'tokens', type: 'quantitative' as const, title: 'training tokens', axis: { format: '~s' } };
    const layers: unknown[] = [];
    const known = curves.filter((c) => c.known), unknown = curves.filter((c) => !c.known);
    if (known.length) {
      layers.push({ data: { values: known }, mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: { field: 'run', type: 'nominal' } } });
      layers.push({ data: { values: known }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'fit', type: 'quantitative' }, color: { field: 'run', type: 'nominal' }, detail: { field: 'run' } } });
    }
    if (unknown.length) {
      layers.push({
        data: { values: unknown }, mark: { type: 'line', strokeWidth: 1.5, strokeDash: [5, 4], opacity: 0.8 },
        encoding: { x, y: { field: 'fit', type: 'quantitative' }, color: { field: 'run', type: 'nominal' }, detail: { field: 'run' }, tooltip: [{ field: 'run' }, { field: 'status', title: 'fit status' }] },
      });
      const ends = [...new Map(unknown.map((c) => [c.run, c])).values()].map((c) => ({ ...c, label: `${String(c.status)} fit` }));
      // Beyond three, end labels pile up on each other; the legend names each run's status instead.
      if (ends.length <= 3) layers.push({ data: { values: ends }, mark: { type: 'text', align: 'left', dx: 3, fontSize: 10, fontStyle: 'italic' }, encoding: { x, y: { field: 'fit', type: 'quantitative' }, text: { field: 'label' }, color: { field: 'run', type: 'nominal' } } });
    }
    layers.push({
      data: { values: data }, mark: { type: 'point', filled: true, size: 22, opacity: 0.85 },
      encoding: { x, y: { field: 'ratio', type: 'quantitative', title: 'activation ratio', scale: { zero: false } }, color, tooltip: [{ field: 'run' }, { field: 'tokens' }, { field: 'ratio' }] },
    });
    const dashed = unknown.length ? '; dashed: fits not identified or degenerate, no band' : '';
    return { title: `${act}: activation ratio vs tokens (fit ± ${Math.round((input.curveFits?.[0]?.result.ciLevel ?? 0.95) * 100)}% band${dashed})`, width: 380, height: 260, layer: layers };
  });
  // Side by side up to two activations; more are stacked (three side by side made a 7,000-pixel-wide
  // image whose legends were cut off).
  return { [panels.length > 2 ? 'vconcat' : 'hconcat']: panels, resolve: { scale: { color: 'independent', y: 'independent' } } } as unknown as Spec;
}

const wdFitsOf = (input: ReportInput): ReportGroupFit[] => input.widthDepthFits ?? (input.widthDepthFit ? [{ group: 'width/depth', result: input.widthDepthFit }] : []);
const chinFitsOf = (input: ReportInput): ReportGroupFit[] => input.chinchillaFits ?? (input.chinchillaFit ? [{ group: 'chinchilla', result: input.chinchillaFit }] : []);

/** Dashed line and a status label at its right end: how a fit that is not `ok` is drawn. */
function unknownFitLayers(rows: Row[], x: object, yField: string, label: string, index = 0, cornerX?: number): unknown[] {
  if (rows.length === 0) return [];
  const xf = (x as { field: string }).field;
  const end = rows.reduce((a, b) => (Number(b[xf]) > Number(a[xf]) ? b : a));
  const text = { type: 'text', align: 'right', fontSize: 10, fontStyle: 'italic', color: '#555' };
  // Falling curves (loss against N) leave the top-right corner empty: the label goes there.
  const labelLayer = cornerX !== undefined
    ? { data: { values: [{ label: `- - ${label}` }] }, mark: { ...text, x: cornerX - 4, y: 12 + 13 * index }, encoding: { text: { field: 'label' } } }
    : { data: { values: [{ ...end, label }] }, mark: { ...text, dx: -4, dy: 14 + 12 * index }, encoding: { x, y: { field: yField, type: 'quantitative' }, text: { field: 'label' } } };
  return [
    { data: { values: rows }, mark: { type: 'line', strokeWidth: 1.5, strokeDash: [5, 4], color: '#777' }, encoding: { x, y: { field: yField, type: 'quantitative' }, detail: { field: 'fitGroup' } } },
    labelLayer,
  ];
}

/** Activation ratio against r = dModel / nLayers with the segmented fit(s). */
export function widthDepthSpec(input: ReportInput): Spec | null {
  const runs = new Map(input.runs.map((r) => [r.id, r]));
  let pts = input.widthDepthPoints;
  if (!pts) {
    pts = [];
    for (const r of input.runs) {
      const rp = input.points.filter((p) => p.runId === r.id);
      if (rp.length === 0) continue;
      const last = rp.reduce((a, b) => (b.step > a.step ? b : a));
      pts.push({ runId: r.id, ratio: r.dModel / r.nLayers, activationRatio: last.activationRatio });
    }
  }
  const fits = wdFitsOf(input);
  if (pts.length === 0 || (new Set(pts.map((p) => p.ratio)).size < 2 && fits.length === 0)) return null;
  const data: Row[] = pts.map((p) => {
    const r = runs.get(p.runId);
    return { run: r ? runLabel(r) : p.runId, activation: r?.activation ?? '?', r: p.ratio, ratio: p.activationRatio, size: r ? sizeLabel(r.params) : '' };
  });
  const x = { field: 'r', type: 'quantitative' as const, title: 'width / depth ratio  r = d_model / n_layers' };
  const layers: unknown[] = [];
  const several = fits.length > 1;
  let notOk = 0;
  for (const { group, runIds, result: f } of fits) {
    if (f.status === 'failed') continue;
    const own = runIds ? pts.filter((p) => runIds.includes(p.runId)) : pts;
    const rs = (own.length ? own : pts).map((p) => p.ratio);
    const grid = linspace(Math.min(...rs), Math.max(...rs), 120);
    const band = predictBand(f, grid).map((b) => ({ r: b.x, fit: b.y, lo: clampRatio(b.lo), hi: clampRatio(b.hi), fitGroup: group }));
    if (f.status !== 'ok') {
      layers.push(...unknownFitLayers(band, x, 'fit', `${several ? `${group}: ` : ''}${f.status} fit`, notOk));
      notOk++;
      continue;
    }
    layers.push({ data: { values: band }, mark: { type: 'area', opacity: 0.15, color: '#444' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } });
    layers.push({ data: { values: band }, mark: { type: 'line', color: '#333', strokeWidth: 2 }, encoding: { x, y: { field: 'fit', type: 'quantitative' } } });
    const bp = f.params.breakpoint;
    const [bl, bh] = f.ci.breakpoint ?? [NaN, NaN];
    const rule: Row = { r: bp, label: `${several ? `${group}: ` : ''}breakpoint r = ${bp.toPrecision(3)}${Number.isFinite(bl) ? ` [${bl.toPrecision(3)}, ${bh.toPrecision(3)}]` : ''}` };
    layers.push({ data: { values: [rule] }, mark: { type: 'rule', strokeDash: [5, 4], color: '#c0392b' }, encoding: { x } });
    layers.push({ data: { values: [rule] }, mark: { type: 'text', align: 'left', dx: 4, dy: -4, color: '#c0392b', fontSize: 11 }, encoding: { x, y: { value: 12 }, text: { field: 'label' } } });
  }
  layers.push({
    data: { values: data }, mark: { type: 'point', filled: true, size: 60 },
    encoding: {
      x, y: { field: 'ratio', type: 'quantitative', title: 'activation ratio', scale: { zero: false } },
      color: { field: 'activation', type: 'nominal' }, shape: { field: 'activation', type: 'nominal' },
      tooltip: [{ field: 'run' }, { field: 'size' }, { field: 'r' }, { field: 'ratio' }],
    },
  });
  const dashed = notOk ? '; dashed grey: fit not ok, no band' : '';
  const failed = fits.filter((f) => f.result.status === 'failed').length;
  const failedNote = failed ? `; ${failed} failed fit${failed > 1 ? 's' : ''} not drawn (see the fit table)` : '';
  return { title: `activation ratio vs width/depth ratio (segmented fit: line up to the breakpoint, flat after${dashed}${failedNote})`, width: 520, height: 300, layer: layers } as unknown as Spec;
}

/** Loss against average parameters N̄, with the Chinchilla fit(s) and, for one ok fit, its iso-loss lines in (N̄, D). */
export function lossSpec(input: ReportInput): Spec | null {
  const runs = new Map(input.runs.map((r) => [r.id, r]));
  const pts = input.lossPoints ?? input.points.filter((p) => p.loss !== undefined && runs.has(p.runId)).map((p) => {
    const r = runs.get(p.runId)!;
    return { runId: p.runId, avgParams: r.avgParams ?? r.params, tokens: p.tokens, loss: p.loss as number };
  });
  if (pts.length === 0) return null;
  const data: Row[] = pts.map((p) => ({ run: runs.get(p.runId) ? runLabel(runs.get(p.runId)!) : p.runId, N: p.avgParams, D: p.tokens, loss: p.loss }));
  const Ns = pts.map((p) => p.avgParams), Ds = pts.map((p) => p.tokens), Ls = pts.map((p) => p.loss);
  const nLo = Math.min(...Ns) / 1.5, nHi = Math.max(...Ns) * 1.5, dLo = Math.min(...Ds) / 1.5, dHi = Math.max(...Ds) * 1.5;
  const xN = { field: 'N', type: 'quantitative' as const, title: 'average parameters N̄', scale: { type: 'log' as const }, axis: { format: '~s' } };
  const left: unknown[] = [];
  const right: unknown[] = [];
  const failed = chinFitsOf(input).filter((g) => g.result.status === 'failed').length;
  const fits = chinFitsOf(input).filter((g) => g.result.status !== 'failed');
  const single = fits.length === 1 && fits[0].result.status === 'ok' ? fits[0].result : null;
  const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
  let notOk = 0;
  if (single) {
    const p = chinchillaParams(single);
    const dLevels = [...new Set([0.1, 0.5, 0.9].map((q) => { const s = [...Ds].sort((a, b) => a - b); return s[Math.floor(q * (s.length - 1))]; }))];
    const curves: Row[] = [];
    for (const D of dLevels) for (const N of logspace(nLo, nHi, 60)) curves.push({ N, loss: predictLoss(p, N, D), tokens: `D = ${sizeLabel(D)} tokens` });
    left.push({ data: { values: curves }, mark: { type: 'line', strokeDash: [4, 3] }, encoding: { x: xN, y: { field: 'loss', type: 'quantitative' }, color: { field: 'tokens', type: 'nominal', title: 'fit at' } } });
    const sortedL = [...Ls].sort((a, b) => a - b);
    const levels = [...new Set([0.1, 0.3, 0.5, 0.7, 0.9].map((q) => +sortedL[Math.floor(q * (sortedL.length - 1))].toPrecision(3)))];
    const iso: Row[] = [];
    for (const L of levels) for (const N of logspace(nLo, nHi, 80)) {
      const D = isoLossD(p, L, N);
      if (Number.isFinite(D) && D >= dLo / 10 && D <= dHi * 10) iso.push({ N, D, level: `L = ${L}` });
    }
    const frontier: Row[] = [];
    const cLo = 6 * nLo * dLo, cHi = 6 * nHi * dHi;
    for (const C of logspace(cLo, cHi, 60)) {
      const o = computeOptimal(p, C);
      if (o.N >= nLo && o.N <= nHi && o.D >= dLo / 10 && o.D <= dHi * 10) frontier.push({ N: o.N, D: o.D });
    }
    right.push({ data: { values: iso }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x: xN, y: { field: 'D', type: 'quantitative', scale: { type: 'log' }, title: 'training tokens D', axis: { format: '~s' } }, color: { field: 'level', type: 'nominal', title: 'iso-loss', scale: { scheme: 'viridis' } }, order: { field: 'N' } } });
    if (frontier.length) right.push({ data: { values: frontier }, mark: { type: 'line', color: '#c0392b', strokeDash: [6, 3], strokeWidth: 2 }, encoding: { x: xN, y: { field: 'D', type: 'quantitative', scale: { type: 'log' } }, order: { field: 'N' } } });
  } else {
    // Several groups, or fits that are not ok: each fit at the median D of its own runs' points;
    // ok fits solid, others dashed and labelled; no iso-loss lines (they would need a known law).
    for (const { group, runIds, result: f } of fits) {
      const own = runIds ? pts.filter((p) => runIds.includes(p.runId)) : pts;
      const src = own.length ? own : pts;
      const D = median(src.map((p) => p.tokens));
      const ns = src.map((p) => p.avgParams);
      const rows: Row[] = logspace(Math.min(...ns) / 1.2, Math.max(...ns) * 1.2, 60)
        .map((N) => ({ N, loss: predictFromFit(f, N, D), fitGroup: group }))
        .filter((r) => Number.isFinite(r.loss as number));
      const name = `${fits.length > 1 ? `${group}, ` : ''}D = ${sizeLabel(D)}`;
      if (f.status === 'ok') {
        left.push({ data: { values: rows }, mark: { type: 'line', strokeWidth: 1.8, color: '#333' }, encoding: { x: xN, y: { field: 'loss', type: 'quantitative' }, detail: { field: 'fitGroup' } } });
        const end = rows.at(-1);
        if (end) left.push({ data: { values: [{ ...end, label: name }] }, mark: { type: 'text', align: 'right', dy: -7, fontSize: 10, color: '#333' }, encoding: { x: xN, y: { field: 'loss', type: 'quantitative' }, text: { field: 'label' } } });
      } else {
        left.push(...unknownFitLayers(rows, xN, 'loss', `${f.status} fit (${name})`, notOk, 360));
        notOk++;
      }
    }
  }
  left.push({
    data: { values: data }, mark: { type: 'point', filled: true, size: 30, opacity: 0.8 },
    encoding: { x: xN, y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } }, shape: { value: 'circle' }, tooltip: [{ field: 'run' }, { field: 'N' }, { field: 'D' }, { field: 'loss' }] },
  });
  right.push({
    data: { values: data }, mark: { type: 'point', filled: true, size: 26, color: '#333' },
    encoding: { x: xN, y: { field: 'D', type: 'quantitative', scale: { type: 'log' }, title: 'training tokens D', axis: { format: '~s' } }, tooltip: [{ field: 'run' }, { field: 'loss' }] },
  });
  const fitTitle = single ? ` — fit: E=${single.params.E.toPrecision(3)}, A=${single.params.A.toPrecision(3)}, B=${single.params.B.toPrecision(3)}, α=${single.params.alpha.toPrecision(3)}, β=${single.params.beta.toPrecision(3)}` : '';
  const leftTitle = (single ? 'loss vs N̄ (dashed: fitted law at fixed D)' : `loss vs N̄${notOk ? ' (dashed grey: fit not ok, no band, labelled with its status)' : fits.length ? ' (line: fitted law at the median D)' : ''}`)
    + (failed ? `; ${failed} failed fit${failed > 1 ? 's' : ''} not drawn` : '');
  return {
    title: `loss vs average parameters${fitTitle}`,
    hconcat: [
      { title: leftTitle, width: 360, height: 280, layer: left },
      ...(right.length > 1 ? [{ title: 'iso-loss lines (red: compute-optimal N̄, D for C = 6N̄D)', width: 360, height: 280, layer: right }] : []),
    ],
    resolve: { scale: { color: 'independent' } },
  } as unknown as Spec;
}

/** Splits text into lines of at most `width` characters at spaces (Vega titles do not wrap). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(' ')) {
    if (cur && cur.length + 1 + w.length > width) { lines.push(cur); cur = w; } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}

function fmtFig(v: number): string {
  return Number.isFinite(v) ? (Math.abs(v) < 1e-2 || Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toPrecision(3)) : '–';
}

/**
 * The Journey Matters figure: final loss against each definition of N (N̄, N_final, N_dense), one
 * panel each, with the law fitted under that definition at the median token count where it is
 * usable (solid when ok, dashed and labelled otherwise); panel titles give AIC and held-out error.
 */
export function journeySpec(j: ReportJourney): Spec | null {
  if (j.runs.length === 0) return null;
  const nOf = (r: JourneyRun, d: NDefinition) => (d === 'avg-nonzero' ? r.avgNonzero : d === 'final-nonzero' ? r.finalNonzero : r.dense);
  const D = [...j.runs.map((r) => r.tokens)].sort((a, b) => a - b)[Math.floor((j.runs.length - 1) / 2)];
  const ys = j.runs.map((r) => r.loss);
  const yLo = Math.min(...ys), yHi = Math.max(...ys), pad = Math.max(1e-6, 0.15 * (yHi - yLo));
  const panels = j.comparison.variants.map((v) => {
    const x = { field: 'N', type: 'quantitative' as const, title: N_DEFINITION_LABEL[v.n], scale: { type: 'log' as const }, axis: { format: '~s' } };
    const y = { field: 'loss', type: 'quantitative' as const, title: 'final validation loss', scale: { zero: false, domain: [yLo - pad, yHi + pad] } };
    const data: Row[] = j.runs.map((r) => ({ run: r.label ?? r.id, N: nOf(r, v.n), loss: r.loss, kind: r.pruned === undefined ? 'run' : r.pruned ? 'pruned' : 'dense' }));
    const layers: unknown[] = [];
    if (v.fit.status !== 'failed') {
      const ns = data.map((d) => d.N as number);
      const rows: Row[] = logspace(Math.min(...ns) / 1.2, Math.max(...ns) * 1.2, 60)
        .map((N) => ({ N, loss: predictFromFit(v.fit, N, D), fitGroup: v.n }))
        .filter((r) => Number.isFinite(r.loss as number) && (r.loss as number) >= yLo - pad && (r.loss as number) <= yHi + pad);
      if (v.fit.status === 'ok') layers.push({ data: { values: rows }, mark: { type: 'line', color: '#333', strokeWidth: 1.8 }, encoding: { x, y } });
      else layers.push(...unknownFitLayers(rows, x, 'loss', `${v.fit.status} fit`, 0, 260));
    }
    layers.push({
      data: { values: data }, mark: { type: 'point', filled: true, size: 50, opacity: 0.85 },
      encoding: { x, y, color: { field: 'kind', type: 'nominal', title: 'run', scale: { domain: ['dense', 'pruned', 'run'], range: ['#1f77b4', '#d62728', '#555'] } }, shape: { field: 'kind', type: 'nominal', title: 'run' }, tooltip: [{ field: 'run' }, { field: 'N' }, { field: 'loss' }] },
    });
    const won = j.comparison.bestByHeldOut === v.n ? ' ★' : '';
    return {
      title: {
        text: `${JOURNEY_N_KEY[v.n]}${won}: fit ${v.fit.status}`,
        subtitle: [`AIC ${fmtFig(v.aic)}, held-out |Δln L| ${fmtFig(v.heldOutLogError)}`, ...(v.k === 3 && v.fit.status !== 'failed' ? ['one token budget: only K + A/N^α is identified'] : [])],
      },
      width: 260, height: 240, layer: layers,
    };
  });
  return {
    title: {
      text: `The Journey Matters (${j.group}): one Chinchilla law, three definitions of N; line: law at D = ${sizeLabel(D)}${j.comparison.bestByHeldOut ? '; ★ best held-out' : ''}`,
      subtitle: wrap(journeyVerdictText(j.comparison), 150),
    },
    hconcat: panels,
  } as unknown as Spec;
}

/** Per-layer activation ratio over training, one heatmap per run. */
export function layerHeatmapSpec(input: ReportInput): Spec | null {
  const lp = input.layerPoints ?? [];
  if (lp.length === 0) return null;
  const runs = new Map(input.runs.map((r) => [r.id, r]));
  const ids = [...new Set(lp.map((p) => p.runId))].slice(0, input.heatmapRuns ?? 8);
  const panels = ids.map((id) => {
    const rp = lp.filter((p) => p.runId === id);
    const steps = [...new Set(rp.map((p) => p.step))].sort((a, b) => a - b);
    const every = Math.max(1, Math.ceil(steps.length / 8));
    const shown = steps.filter((_, i) => i % every === 0);
    const r = runs.get(id);
    return {
      title: r ? `${runLabel(r)} (${r.activation}, ${sizeLabel(r.params)}, ${r.nLayers} layers)` : id,
      width: Math.min(560, Math.max(240, steps.length * 20)), height: Math.max(80, 16 * new Set(rp.map((p) => p.layer)).size),
      data: { values: rp.map((p) => ({ step: p.step, layer: p.layer, ratio: p.activationRatio })) },
      mark: 'rect',
      encoding: {
        x: { field: 'step', type: 'ordinal', title: 'training step', axis: { values: shown, labelAngle: 0, format: '~s', formatType: 'number', labelOverlap: 'greedy' } },
        y: { field: 'layer', type: 'ordinal', title: 'layer', sort: 'descending' },
        color: { field: 'ratio', type: 'quantitative', title: 'activation ratio', scale: { scheme: 'viridis' } },
        tooltip: [{ field: 'step' }, { field: 'layer' }, { field: 'ratio' }],
      },
    };
  });
  return { title: 'per-layer activation ratio over training', vconcat: panels, resolve: { scale: { color: 'independent' } } } as unknown as Spec;
}

// ---- HTML ----

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : String(+v.toPrecision(4));
}

function fitTable(rows: Array<{ name: string; r: FitResult }>): string {
  if (rows.length === 0) return '';
  const body = rows.map(({ name, r }) => {
    const ps = Object.keys(r.params).map((k) => {
      const ci = r.ci[k];
      const flag = r.flags[k] ? ` <span class="flag">${r.flags[k]}</span>` : '';
      return `${esc(k)} = ${fmt(r.params[k])}${ci && Number.isFinite(ci[0]) ? ` [${fmt(ci[0])}, ${fmt(ci[1])}]` : ''}${flag}`;
    }).join('<br>');
    const prefix = r.status === 'ok' ? '' : `<b class="flag">${esc(r.status)}:</b><br>`;
    return `<tr><td>${esc(name)}</td><td>${esc(r.law)}</td><td>${prefix}${ps}</td><td>${fmt(r.mae)}</td><td>${fmt(r.mse)}</td><td>${fmt(r.r2)}</td><td>${r.n}</td><td>${esc(r.status)}${r.reason ? `<br><small>${esc(r.reason)}</small>` : ''}${r.ciMethod !== 'none' ? `<br><small>${esc(r.ciMethod)} ${Math.round(r.ciLevel * 100)}% CI</small>` : ''}</td></tr>`;
  }).join('\n');
  return `<table><thead><tr><th>fit</th><th>law</th><th>parameters [CI]</th><th>MAE</th><th>MSE</th><th>R²</th><th>n</th><th>status</th></tr></thead><tbody>${body}</tbody></table>`;
}

function runTable(runs: ReportRun[]): string {
  const extra = [...new Set(runs.flatMap((r) => Object.keys(r.config ?? {})))];
  const head = ['run', 'activation', 'params', 'N̄', 'd_model', 'layers', 'r', ...extra].map((h) => `<th>${esc(h)}</th>`).join('');
  const body = runs.map((r) => {
    const cells = [runLabel(r), r.activation, sizeLabel(r.params), r.avgParams !== undefined ? sizeLabel(r.avgParams) : '', String(r.dModel), String(r.nLayers), fmt(r.dModel / r.nLayers),
      ...extra.map((k) => { const v = r.config?.[k]; return v === undefined || v === null ? '' : String(v); })];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  }).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function provenanceTable(rows: ReportProvenanceRow[]): string {
  const head = ['run', 'backend', 'device', 'host', 'build', 'commit'].map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => {
    const commit = r.gitCommit ? `${r.gitCommit.slice(0, 12)}${r.gitDirty ? ' (dirty tree)' : ''}` : 'not a git checkout';
    const build = `${esc(r.buildId ?? '')}${r.mixedBuilds ? `<br><span class="flag">MIXED builds: ${esc(r.builds.join(', '))}</span>` : ''}`;
    const cells = [esc(r.label ?? r.runId), esc(r.backend ?? ''), esc(r.device), esc(r.host ?? ''), build, esc(commit)];
    return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  }).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Writes the report into outDir (created if needed) and returns the files written. */
export async function renderReport(input: ReportInput, outDir: string): Promise<{ files: string[] }> {
  fs.mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const charts: Array<{ name: string; title: string; spec: Spec | null }> = [
    { name: 'activation-vs-tokens', title: 'Activation ratio vs training tokens', spec: activationVsTokensSpec(input) },
    { name: 'width-depth', title: 'Activation ratio vs width/depth ratio', spec: widthDepthSpec(input) },
    { name: 'loss-vs-params', title: 'Loss vs average parameters', spec: lossSpec(input) },
    { name: 'layer-heatmap', title: 'Per-layer activation ratio over training', spec: layerHeatmapSpec(input) },
    ...(input.journeys ?? []).map((j, i) => ({
      name: i === 0 ? 'journey-matters' : `journey-matters-${i + 1}`,
      title: `The Journey Matters: loss against N̄, N_final and N_dense (${j.group})`,
      spec: journeySpec(j),
    })),
  ];
  const sections: string[] = [];
  for (const c of charts) {
    if (!c.spec) continue;
    const svg = await specToSvg(c.spec);
    const svgPath = path.join(outDir, `${c.name}.svg`);
    const pngPath = path.join(outDir, `${c.name}.png`);
    fs.writeFileSync(svgPath, svg);
    fs.writeFileSync(pngPath, svgToPng(svg));
    files.push(svgPath, pngPath);
    sections.push(`<section><h2>${esc(c.title)}</h2><img src="${c.name}.svg" alt="${esc(c.title)}"><p><a href="${c.name}.png">PNG</a> · <a href="${c.name}.svg">SVG</a></p></section>`);
  }
  const runs = new Map(input.runs.map((r) => [r.id, r]));
  const fitRows = [
    ...(input.curveFits ?? []).map((f) => ({ name: `${runs.get(f.runId) ? runLabel(runs.get(f.runId)!) : f.runId}${f.group ? ` (${f.group})` : ''}`, r: f.result })),
    ...wdFitsOf(input).map((f) => ({ name: f.group === 'width/depth' ? f.group : `width/depth: ${f.group}`, r: f.result })),
    ...chinFitsOf(input).map((f) => ({ name: f.group === 'chinchilla' ? f.group : `chinchilla: ${f.group}`, r: f.result })),
    ...(input.otherFits ?? []).map((f) => ({ name: f.name, r: f.result })),
  ];
  const journeyHtml = (input.journeys ?? []).map((j) => {
    const rows = j.comparison.variants.map((v) => `<tr><td>${esc(JOURNEY_N_KEY[v.n])}</td><td>${esc(v.label)}</td><td>${esc(v.fit.status)}${v.fit.reason ? `<br><small>${esc(v.fit.reason)}</small>` : ''}</td><td>${fmt(v.aic)}</td><td>${fmt(v.heldOutLogError)}</td></tr>`).join('\n');
    return `<h3>${esc(j.group)}: ${j.runs.length} runs</h3><p><b>${esc(j.comparison.status)}</b>: ${esc(journeyVerdictText(j.comparison))}</p><table><thead><tr><th>N</th><th>definition</th><th>fit status</th><th>AIC</th><th>held-out mean |ln L̂ − ln L|</th></tr></thead><tbody>${rows}</tbody></table>`;
  }).join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font-family:${FONT},system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f5f5f5}.flag{color:#b03a2e;font-weight:bold;font-size:11px}img{max-width:100%}section{margin:2em 0}small{color:#666}
</style></head><body>
<h1>${esc(input.title)}</h1>${input.subtitle ? `<p>${esc(input.subtitle)}</p>` : ''}
<h2>Runs</h2>${runTable(input.runs)}
${fitRows.length ? `<h2>Fits</h2><p><small>Flags: <b>not-identified</b> = the confidence interval reaches a bound of the parameter (or could not be computed), so the data do not pin it down.</small></p>${fitTable(fitRows)}` : ''}
${journeyHtml ? `<h2>The Journey Matters: which N explains the runs</h2>${journeyHtml}` : ''}
${sections.join('\n')}
${input.provenance?.length ? `<h2>Provenance</h2><p><small>What trained each run: its first segment's backend, device, host and build (<code>run_segments</code> holds every segment).</small></p>${provenanceTable(input.provenance)}` : ''}
</body></html>
`;
  const htmlPath = path.join(outDir, 'index.html');
  fs.writeFileSync(htmlPath, html);
  files.push(htmlPath);
  const jsonPath = path.join(outDir, 'report.json');
  fs.writeFileSync(jsonPath, JSON.stringify({ title: input.title, curveFits: input.curveFits ?? [], widthDepthFits: wdFitsOf(input), chinchillaFits: chinFitsOf(input), otherFits: input.otherFits ?? [],
    journeys: (input.journeys ?? []).map((j) => ({ group: j.group, runs: j.runs, comparison: { ...j.comparison, variants: j.comparison.variants.map((v) => ({ ...v, fit: { ...v.fit, covariance: undefined } })) } })) }, null, 2));
  files.push(jsonPath);
  return { files };
}
