/**
 * HTML report with Vega-Lite charts (SVG for the page, PNG via resvg for slides and chat).
 *
 * renderReport(input, outDir) writes:
 *   outDir/index.html                  summary tables + the charts
 *   outDir/activation-vs-tokens.{svg,png}
 *   outDir/width-depth.{svg,png}       (when runs span more than one width/depth ratio or a fit is given)
 *   outDir/loss-vs-params.{svg,png}    (when there are loss points)
 *   outDir/layer-heatmap.{svg,png}     (when there are layer points)
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
}

export interface ReportInput {
  title: string;
  subtitle?: string;
  runs: ReportRun[];
  points: ReportPoint[];
  layerPoints?: ReportLayerPoint[];
  curveFits?: ReportCurveFit[];
  /** segmented fit of activation ratio against r = dModel / nLayers */
  widthDepthFit?: FitResult;
  /** points of the width/depth chart; default: each run's last point */
  widthDepthPoints?: Array<{ runId: string; ratio: number; activationRatio: number }>;
  /** Chinchilla fit of loss against (N̄, D) */
  chinchillaFit?: FitResult;
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
  const name = (id: string) => { const r = runs.get(id)!; return `${runLabel(r)} (${sizeLabel(r.params)})`; };
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
    const color = { field: 'run', type: 'nominal' as const, title: 'run (size)', sort: { field: 'params' } };
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
      layers.push({ data: { values: ends }, mark: { type: 'text', align: 'left', dx: 3, fontSize: 10, fontStyle: 'italic' }, encoding: { x, y: { field: 'fit', type: 'quantitative' }, text: { field: 'label' }, color: { field: 'run', type: 'nominal' } } });
    }
    layers.push({
      data: { values: data }, mark: { type: 'point', filled: true, size: 22, opacity: 0.85 },
      encoding: { x, y: { field: 'ratio', type: 'quantitative', title: 'activation ratio', scale: { zero: false } }, color, tooltip: [{ field: 'run' }, { field: 'tokens' }, { field: 'ratio' }] },
    });
    const dashed = unknown.length ? '; dashed: fits not identified or degenerate, no band' : '';
    return { title: `${act}: activation ratio vs tokens (fit ± ${Math.round((input.curveFits?.[0]?.result.ciLevel ?? 0.95) * 100)}% band${dashed})`, width: 380, height: 260, layer: layers };
  });
  return { hconcat: panels, resolve: { scale: { color: 'independent', y: 'independent' } } } as unknown as Spec;
}

/** Activation ratio against r = dModel / nLayers with the segmented fit. */
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
  if (pts.length === 0 || (new Set(pts.map((p) => p.ratio)).size < 2 && !input.widthDepthFit)) return null;
  const data: Row[] = pts.map((p) => {
    const r = runs.get(p.runId);
    return { run: r ? runLabel(r) : p.runId, activation: r?.activation ?? '?', r: p.ratio, ratio: p.activationRatio, size: r ? sizeLabel(r.params) : '' };
  });
  const x = { field: 'r', type: 'quantitative' as const, title: 'width / depth ratio  r = d_model / n_layers' };
  const layers: unknown[] = [];
  const f = input.widthDepthFit;
  if (f && f.status === 'ok') {
    const lo = Math.min(...pts.map((p) => p.ratio)), hi = Math.max(...pts.map((p) => p.ratio));
    const band = predictBand(f, linspace(lo, hi, 120)).map((b) => ({ r: b.x, fit: b.y, lo: clampRatio(b.lo), hi: clampRatio(b.hi) }));
    layers.push({ data: { values: band }, mark: { type: 'area', opacity: 0.15, color: '#444' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } });
    layers.push({ data: { values: band }, mark: { type: 'line', color: '#333', strokeWidth: 2 }, encoding: { x, y: { field: 'fit', type: 'quantitative' } } });
    const bp = f.params.breakpoint;
    const [bl, bh] = f.ci.breakpoint ?? [NaN, NaN];
    const rule: Row = { r: bp, label: `breakpoint r = ${bp.toPrecision(3)}${Number.isFinite(bl) ? ` [${bl.toPrecision(3)}, ${bh.toPrecision(3)}]` : ''}` };
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
  return { title: 'activation ratio vs width/depth ratio (segmented fit: line up to the breakpoint, flat after)', width: 520, height: 300, layer: layers } as unknown as Spec;
}

/** Loss against average parameters N̄, with the Chinchilla fit and its iso-loss lines in (N̄, D). */
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
  const f = input.chinchillaFit;
  if (f && f.status === 'ok') {
    const p = chinchillaParams(f);
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
  }
  left.push({
    data: { values: data }, mark: { type: 'point', filled: true, size: 30, opacity: 0.8 },
    encoding: { x: xN, y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } }, shape: { value: 'circle' }, tooltip: [{ field: 'run' }, { field: 'N' }, { field: 'D' }, { field: 'loss' }] },
  });
  right.push({
    data: { values: data }, mark: { type: 'point', filled: true, size: 26, color: '#333' },
    encoding: { x: xN, y: { field: 'D', type: 'quantitative', scale: { type: 'log' }, title: 'training tokens D', axis: { format: '~s' } }, tooltip: [{ field: 'run' }, { field: 'loss' }] },
  });
  const fitTitle = f && f.status === 'ok' ? ` — fit: E=${f.params.E.toPrecision(3)}, A=${f.params.A.toPrecision(3)}, B=${f.params.B.toPrecision(3)}, α=${f.params.alpha.toPrecision(3)}, β=${f.params.beta.toPrecision(3)}` : '';
  return {
    title: `loss vs average parameters${fitTitle}`,
    hconcat: [
      { title: 'loss vs N̄ (dashed: fitted law at fixed D)', width: 360, height: 280, layer: left },
      ...(right.length > 1 ? [{ title: 'iso-loss lines (red: compute-optimal N̄, D for C = 6N̄D)', width: 360, height: 280, layer: right }] : []),
    ],
    resolve: { scale: { color: 'independent' } },
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
    return `<tr><td>${esc(name)}</td><td>${esc(r.law)}</td><td>${ps}</td><td>${fmt(r.mae)}</td><td>${fmt(r.mse)}</td><td>${fmt(r.r2)}</td><td>${r.n}</td><td>${esc(r.status)}${r.reason ? `<br><small>${esc(r.reason)}</small>` : ''}${r.ciMethod !== 'none' ? `<br><small>${esc(r.ciMethod)} ${Math.round(r.ciLevel * 100)}% CI</small>` : ''}</td></tr>`;
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
    ...(input.curveFits ?? []).map((f) => ({ name: runs.get(f.runId) ? runLabel(runs.get(f.runId)!) : f.runId, r: f.result })),
    ...(input.widthDepthFit ? [{ name: 'width/depth', r: input.widthDepthFit }] : []),
    ...(input.chinchillaFit ? [{ name: 'chinchilla', r: input.chinchillaFit }] : []),
  ];
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
${sections.join('\n')}
${input.provenance?.length ? `<h2>Provenance</h2><p><small>What trained each run: its first segment's backend, device, host and build (<code>run_segments</code> holds every segment).</small></p>${provenanceTable(input.provenance)}` : ''}
</body></html>
`;
  const htmlPath = path.join(outDir, 'index.html');
  fs.writeFileSync(htmlPath, html);
  files.push(htmlPath);
  const jsonPath = path.join(outDir, 'report.json');
  fs.writeFileSync(jsonPath, JSON.stringify({ title: input.title, curveFits: input.curveFits ?? [], widthDepthFit: input.widthDepthFit ?? null, chinchillaFit: input.chinchillaFit ?? null }, null, 2));
  files.push(jsonPath);
  return { files };
}
