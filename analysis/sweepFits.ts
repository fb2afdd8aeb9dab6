// Which laws a sweep's stored runs support, and fitting them: pure, given plain data.
//   - per (activation, size, pruning) group, seeds pooled: the Sparsing Law curve of the
//     activation ratio against tokens (`relu-logspace` for the ReLU family, `silu-power` else);
//   - per activation, across sizes: `width-depth` on each run's final activation ratio;
//   - across all runs: `chinchilla` on the loss, with N = N̄ (average non-zero linear params).
import { fitChinchilla, fitCurve, type FitResult } from './fit';
import type { CurveLawName } from './laws';
import type { ReportInput } from './report';

export interface SweepRun {
  id: string;
  label: string;
  activation: string;
  dModel: number;
  nLayers: number;
  pruning: string;
  seed: number;
  linearParams: number;
  avgNonzeroParams: number;
}

export interface SweepPoint {
  runId: string;
  step: number;
  tokens: number;
  activationRatio: number | null;
  valLoss: number;
}

export interface SweepLayerPoint {
  runId: string;
  step: number;
  layer: number;
  activationRatio: number;
}

export interface SweepData {
  sweepId: string;
  metric: string;
  runs: SweepRun[];
  points: SweepPoint[];
  layerPoints?: SweepLayerPoint[];
}

export interface SweepFit {
  law: string;
  /** What the fit pools, e.g. `activation=relu dModel=64 nLayers=2 pruning=dense`. */
  groupKey: string;
  runIds: string[];
  /** x = tokens · xScale for curve laws. */
  xScale?: number;
  result: FitResult;
  note?: string;
}

export interface SweepFitOptions {
  bootstrap?: number;
  workers?: number;
  /** Called between fits (activities heartbeat here). */
  onProgress?: (done: string) => void;
}

const RELU_FAMILY = new Set(['relu', 'relu2']);

export function curveLawFor(activation: string): CurveLawName {
  return RELU_FAMILY.has(activation) ? 'relu-logspace' : 'silu-power';
}

/** A power of ten that puts the largest token count in [10, 100), so the laws' bounds suit the data. */
export function tokenScale(maxTokens: number): number {
  return 10 ** -(Math.floor(Math.log10(Math.max(1, maxTokens))) - 1);
}

const groupKeyOf = (r: SweepRun) => `activation=${r.activation} dModel=${r.dModel} nLayers=${r.nLayers} pruning=${r.pruning}`;

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) m.set(key(it), [...(m.get(key(it)) ?? []), it]);
  return m;
}

export async function fitSweepData(data: SweepData, opts: SweepFitOptions = {}): Promise<SweepFit[]> {
  const fits: SweepFit[] = [];
  const fitOpts = { bootstrap: opts.bootstrap ?? 100, workers: opts.workers ?? 1 };
  const pointsOf = groupBy(data.points, (p) => p.runId);
  const maxTokens = Math.max(1, ...data.points.map((p) => p.tokens));
  const xScale = tokenScale(maxTokens);

  // 1. Activation ratio against tokens, per group of seeds.
  for (const [groupKey, runs] of groupBy(data.runs, groupKeyOf)) {
    const pts = runs.flatMap((r) => pointsOf.get(r.id) ?? []).filter((p) => p.activationRatio !== null);
    if (pts.length < 6) continue;
    const law = curveLawFor(runs[0].activation);
    const result = await fitCurve(
      law,
      pts.map((p) => p.tokens * xScale),
      pts.map((p) => p.activationRatio as number),
      fitOpts,
    );
    fits.push({ law, groupKey, runIds: runs.map((r) => r.id), xScale, result, note: `x = tokens × ${xScale}` });
    opts.onProgress?.(`${law} ${groupKey}`);
  }

  // 2. Width/depth: final activation ratio against dModel / nLayers, per activation.
  for (const [activation, runs] of groupBy(data.runs, (r) => r.activation)) {
    const ratios = new Set(runs.map((r) => r.dModel / r.nLayers));
    if (ratios.size < 4) continue;
    const finals = runs
      .map((r) => ({ r, last: (pointsOf.get(r.id) ?? []).at(-1) }))
      .filter((x): x is { r: SweepRun; last: SweepPoint } => Boolean(x.last && x.last.activationRatio !== null));
    const result = await fitCurve(
      'width-depth',
      finals.map((f) => f.r.dModel / f.r.nLayers),
      finals.map((f) => f.last.activationRatio as number),
      fitOpts,
    );
    fits.push({ law: 'width-depth', groupKey: `activation=${activation}`, runIds: finals.map((f) => f.r.id), result });
    opts.onProgress?.(`width-depth ${activation}`);
  }

  // 3. Chinchilla with N̄: final losses when token budgets differ between runs; otherwise
  //    the later half of every run's eval points, since D then varies only within runs.
  const finals = data.runs
    .map((r) => ({ r, last: (pointsOf.get(r.id) ?? []).at(-1) }))
    .filter((x): x is { r: SweepRun; last: SweepPoint } => Boolean(x.last));
  const distinctN = new Set(data.runs.map((r) => Math.round(r.avgNonzeroParams))).size;
  if (finals.length >= 3 && distinctN >= 2) {
    const budgets = new Set(finals.map((f) => f.last.tokens)).size;
    let points: { N: number; D: number; L: number }[];
    let note: string;
    if (budgets >= 2 && finals.length >= 6) {
      points = finals.map((f) => ({ N: f.r.avgNonzeroParams, D: f.last.tokens, L: f.last.valLoss }));
      note = 'final validation loss of each run; N = average non-zero linear parameters (N̄)';
    } else {
      points = data.runs.flatMap((r) => {
        const ps = pointsOf.get(r.id) ?? [];
        return ps.slice(Math.floor(ps.length / 2)).map((p) => ({ N: r.avgNonzeroParams, D: p.tokens, L: p.valLoss }));
      });
      note = 'runs share one token budget: later-half eval points of every run used; N = N̄';
    }
    points = points.filter((p) => Number.isFinite(p.L) && p.L > 0 && p.N > 0 && p.D > 0);
    if (points.length >= 6) {
      const result = await fitChinchilla(points, { ...fitOpts, bootstrap: Math.min(fitOpts.bootstrap, 50) });
      fits.push({ law: 'chinchilla', groupKey: 'all runs', runIds: finals.map((f) => f.r.id), result, note });
      opts.onProgress?.('chinchilla');
    }
  }
  return fits;
}

/** The report's input from the same data and fits. */
export function reportInput(data: SweepData, fits: SweepFit[]): ReportInput {
  const curveFits = fits
    .filter((f) => f.law === 'relu-logspace' || f.law === 'silu-power')
    .flatMap((f) => f.runIds.map((runId) => ({ runId, xScale: f.xScale, result: f.result })));
  return {
    title: `Sweep ${data.sweepId}`,
    subtitle: `activation ratio by ${data.metric}; ${data.runs.length} runs`,
    runs: data.runs.map((r) => ({
      id: r.id,
      label: r.label,
      activation: r.activation,
      params: r.linearParams,
      avgParams: r.avgNonzeroParams,
      dModel: r.dModel,
      nLayers: r.nLayers,
      config: { pruning: r.pruning, seed: r.seed },
    })),
    points: data.points
      .filter((p) => p.activationRatio !== null)
      .map((p) => ({ runId: p.runId, step: p.step, tokens: p.tokens, activationRatio: p.activationRatio as number, loss: p.valLoss })),
    layerPoints: data.layerPoints,
    curveFits,
    widthDepthFit: fits.find((f) => f.law === 'width-depth')?.result,
    chinchillaFit: fits.find((f) => f.law === 'chinchilla')?.result,
  };
}
