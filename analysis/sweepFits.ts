// Which laws a sweep's stored runs support, and fitting them: pure, given plain data.
//
// Runs are pooled into one fit only when their configs agree on every field except the seed and
// the law's own x (analysis/groupKey.ts), so a group key such as `relu d128 cubic 0.25→0.75 s=0.5`
// says exactly what a fit pools:
//   - `relu-logspace` / `silu-power` (the Sparsing Law curve of the activation ratio against
//     tokens): x is the token count *within* a run, which no config field holds, so only the seed
//     is pooled. `training.steps` is NOT pooled: the cosine/WSD learning-rate schedule, the warmup
//     and the pruning window (start/end are fractions of training) are all laid out over the run's
//     total steps, so a 600-step run is not the first half of a 1200-step run (in a WSD ladder with
//     `warmupSteps` the runs share warmup and stable phase but each decays before its own end);
//     runs differing in steps are different curves and get different fits.
//   - `width-depth` (final activation ratio against r = dModel / nLayers): pools the seed and the
//     size fields (model.dModel, model.nLayers, model.nHeads); everything else splits.
//   - `chinchilla` (loss against N̄ and D), `sparse-chinchilla` (loss against S, N, D) and the
//     Journey Matters comparison: pool the seed, the size fields, `training.steps` (D) and every
//     `pruning.*` field (pruning acts on the loss through N̄, N_final and S, the laws' own x).
//
// Bootstrap intervals by default, resampling what is independent: points within one curve for the
// curve laws (replicate seeds pooled into the curve), whole runs (clusters) for the cross-run laws
// whose points come several to a run, and points (one per run) otherwise.
import { fitChinchilla, fitCurve, type FitResult } from './fit';
import { groupRunsByConfig } from './groupKey';
import { compareNDefinitions, JOURNEY_N_KEY, journeyVerdictText, N_DEFINITIONS, type JourneyComparison, type JourneyRun, type NDefinition } from './journey';
import type { CurveLawName } from './laws';
import type { ReportInput } from './report';
import { fitSparseChinchilla } from './sparseChinchilla';

export interface SweepRun {
  id: string;
  label: string;
  activation: string;
  dModel: number;
  nLayers: number;
  /** a short pruning label (`dense`, `cubic50`) for tables; grouping uses `config` */
  pruning: string;
  seed: number;
  /** all linear weights of the dense model (`runs.linear_params`): N_dense */
  linearParams: number;
  /** N̄: mean over training of the non-zero linear weights (`runs.avg_nonzero_params`) */
  avgNonzeroParams: number;
  /** final weight sparsity: config.pruning.finalSparsity, 0 for dense runs */
  finalSparsity?: number;
  /** the run's full config (`runs.config`, a RunConfig); grouping falls back to the fields above without it */
  config?: unknown;
}

export interface SweepPoint {
  runId: string;
  step: number;
  tokens: number;
  activationRatio: number | null;
  valLoss: number;
  /** non-zero linear weights at this point (`run_points.nonzero_params`) */
  nonzeroParams?: number;
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
  /** what the fit pools, readable (analysis/groupKey.ts), e.g. `relu d128` or `all runs` */
  groupKey: string;
  runIds: string[];
  /** x = tokens · xScale for curve laws. */
  xScale?: number;
  result: FitResult;
  /** what the data are (points used, units of x) */
  note?: string;
}

/** One Journey Matters comparison: the three fits, the runs they were fitted to, the verdict. */
export interface SweepJourney {
  /** the group of runs compared (every config field but seed, size, steps and pruning agrees) */
  groupKey: string;
  runs: Array<JourneyRun & { label: string; pruned: boolean }>;
  comparison: JourneyComparison;
}

export interface SweepFits {
  fits: SweepFit[];
  journeys: SweepJourney[];
  /** laws not attempted and why (e.g. no pruned runs for sparse-chinchilla) */
  skipped: string[];
}

export interface SweepFitOptions {
  /** bootstrap replicates for curve laws (default 100); cross-run laws use at most 50 */
  bootstrap?: number;
  workers?: number;
  /** chinchilla starting points (default: Epoch's 4,500-point grid); tests pass fewer */
  chinchillaStarts?: number[][];
  /** sparse-chinchilla random starts (default 300) */
  sparseStarts?: number;
  /** Called between fits (activities heartbeat here). */
  onProgress?: (done: string) => void;
  /**
   * Curve laws only: use a run's eval points from this fraction of its training steps on (default 0,
   * every point). The Sparsing Law's curves describe training after the transient from initialisation
   * (its first checkpoints are billions of tokens in); a short run's first points are that transient.
   */
  curveFrom?: number;
}

const RELU_FAMILY = new Set(['relu', 'relu2']);

export function curveLawFor(activation: string): CurveLawName {
  return RELU_FAMILY.has(activation) ? 'relu-logspace' : 'silu-power';
}

/** A power of ten that puts the largest token count in [10, 100), so the laws' bounds suit the data. */
/** `1e-5` for the scale 10^-5 (whose float prints as 0.00009999999999999999). */
export function scaleText(scale: number): string {
  return Number(scale.toPrecision(1)).toExponential();
}

export function tokenScale(maxTokens: number): number {
  return 10 ** -(Math.floor(Math.log10(Math.max(1, maxTokens))) - 1);
}

/** Config fields that are a law's x, pooled (see the module comment). */
export const SIZE_FIELDS = ['model.dModel', 'model.nLayers', 'model.nHeads'];
export const CURVE_POOLED: readonly string[] = [];
export const WIDTH_DEPTH_POOLED: readonly string[] = SIZE_FIELDS;
export const CROSS_RUN_POOLED: readonly string[] = [...SIZE_FIELDS, 'training.steps', 'pruning'];

/** The run's config, or the fields known without it (older callers, tests). */
export function configOf(r: SweepRun): unknown {
  return r.config ?? { model: { activation: r.activation, dModel: r.dModel, nLayers: r.nLayers }, pruning: { label: r.pruning }, seed: r.seed };
}

function finalSparsityOf(r: SweepRun): number {
  if (r.finalSparsity !== undefined) return r.finalSparsity;
  const p = (r.config as { pruning?: { schedule?: string; finalSparsity?: number } } | undefined)?.pruning;
  return p && p.schedule !== 'none' ? p.finalSparsity ?? 0 : 0;
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) m.set(key(it), [...(m.get(key(it)) ?? []), it]);
  return m;
}

interface Final { r: SweepRun; last: SweepPoint }

export async function fitSweepData(data: SweepData, opts: SweepFitOptions = {}): Promise<SweepFits> {
  const fits: SweepFit[] = [];
  const journeys: SweepJourney[] = [];
  const skipped: string[] = [];
  const workers = opts.workers ?? 1;
  const curveOpts = { bootstrap: opts.bootstrap ?? 100, workers };
  const crossBootstrap = Math.min(opts.bootstrap ?? 100, 50);
  const chinStarts = opts.chinchillaStarts ? { starts: opts.chinchillaStarts } : {};
  const pointsOf = groupBy(data.points, (p) => p.runId);
  const maxTokens = Math.max(1, ...data.points.map((p) => p.tokens));
  const xScale = tokenScale(maxTokens);
  const finalOf = (r: SweepRun): Final | null => {
    const last = (pointsOf.get(r.id) ?? []).at(-1);
    return last ? { r, last } : null;
  };

  // 1. Activation ratio against tokens, per group of replicate seeds.
  for (const g of groupRunsByConfig(data.runs, configOf, CURVE_POOLED)) {
    const from = opts.curveFrom ?? 0;
    const pts = g.members.flatMap((r) => {
      const own = pointsOf.get(r.id) ?? [];
      const steps = (r.config as { training?: { steps?: number } } | undefined)?.training?.steps ?? own.at(-1)?.step ?? 0;
      return own.filter((p) => p.step >= from * steps);
    }).filter((p) => p.activationRatio !== null);
    if (pts.length === 0) continue;
    const law = curveLawFor(g.members[0].activation);
    const result = await fitCurve(law, pts.map((p) => p.tokens * xScale), pts.map((p) => p.activationRatio as number), curveOpts);
    const seeds = new Set(g.members.map((r) => r.seed)).size;
    fits.push({
      law, groupKey: g.key, runIds: g.members.map((r) => r.id), xScale, result,
      note: `x = tokens × ${scaleText(xScale)}; ${pts.length} eval points of ${g.members.length} run(s)${from > 0 ? ` from ${+(from * 100).toFixed(1)}% of training on` : ''}${seeds > 1 ? ` (${seeds} seeds pooled)` : ''}; bootstrap resamples points`,
    });
    opts.onProgress?.(`${law} ${g.key}`);
  }

  // 2. Width/depth: final activation ratio against dModel / nLayers, per group of all but size and seed.
  for (const g of groupRunsByConfig(data.runs, configOf, WIDTH_DEPTH_POOLED)) {
    const ratios = new Set(g.members.map((r) => r.dModel / r.nLayers));
    if (ratios.size < 2) continue; // one width/depth ratio: nothing to fit, not a failure
    const finals = g.members.map(finalOf).filter((x): x is Final => Boolean(x && x.last.activationRatio !== null));
    if (finals.length === 0) continue; // no activation ratios measured
    const result = await fitCurve('width-depth', finals.map((f) => f.r.dModel / f.r.nLayers), finals.map((f) => f.last.activationRatio as number), curveOpts);
    fits.push({ law: 'width-depth', groupKey: g.key, runIds: finals.map((f) => f.r.id), result, note: `x = d_model / n_layers; final point of ${finals.length} runs` });
    opts.onProgress?.(`width-depth ${g.key}`);
  }

  for (const g of groupRunsByConfig(data.runs, configOf, CROSS_RUN_POOLED)) {
    const finals = g.members.map(finalOf).filter((x): x is Final => Boolean(x));
    if (finals.length === 0) continue;

    // 3. Chinchilla with N̄: final losses when token budgets differ between runs; otherwise the
    //    later half of every run's eval points (D then varies only within runs), resampled by run.
    const distinctN = new Set(finals.map((f) => Math.round(f.r.avgNonzeroParams))).size;
    if (finals.length >= 3 && distinctN >= 2) {
      const budgets = new Set(finals.map((f) => f.last.tokens)).size;
      let points: Array<{ N: number; D: number; L: number; run: number }>;
      let note: string;
      if (budgets >= 2 && finals.length >= 6) {
        points = finals.map((f, i) => ({ N: f.r.avgNonzeroParams, D: f.last.tokens, L: f.last.valLoss, run: i }));
        note = `final validation loss of ${finals.length} runs; N = N̄ (average non-zero linear parameters), D = tokens; bootstrap resamples runs`;
      } else {
        points = finals.flatMap((f, i) => {
          const ps = pointsOf.get(f.r.id) ?? [];
          return ps.slice(Math.floor(ps.length / 2)).map((p) => ({ N: f.r.avgNonzeroParams, D: p.tokens, L: p.valLoss, run: i }));
        });
        note = `runs share one token budget: later-half eval points of ${finals.length} runs; N = N̄, D = tokens so far; bootstrap resamples whole runs`;
      }
      points = points.filter((p) => Number.isFinite(p.L) && p.L > 0 && p.N > 0 && p.D > 0);
      const result = await fitChinchilla(points, { ...chinStarts, workers, bootstrap: crossBootstrap, clusters: points.map((p) => p.run) });
      fits.push({ law: 'chinchilla', groupKey: g.key, runIds: finals.map((f) => f.r.id), result, note });
      opts.onProgress?.(`chinchilla ${g.key}`);
    } else skipped.push(`chinchilla ${g.key}: ${finals.length} runs with ${distinctN} distinct N̄ (needs 3 runs and 2 sizes)`);

    const pruned = finals.filter((f) => finalSparsityOf(f.r) > 0);
    const usable = finals.filter((f) => f.last.valLoss > 0 && Number.isFinite(f.last.valLoss) && (f.last.nonzeroParams ?? 0) > 0 && f.r.avgNonzeroParams > 0 && f.r.linearParams > 0);

    // 4. Sparse scaling law (Frantar et al.): one point per run, S = final sparsity, N = final
    //    non-zero parameters, D = tokens. Attempted whenever the group has pruned runs; when the
    //    runs cannot support it, the stored fit is `failed` with the reason (fitSparseChinchilla's
    //    preconditions: > 7 runs, ≥ 2 sparsities, ≥ 3 distinct N and D).
    if (pruned.length === 0) skipped.push(`sparse-chinchilla ${g.key}: no pruned runs (S = 0 everywhere: the law is chinchilla)`);
    else {
      const sp = usable.map((f) => ({ S: finalSparsityOf(f.r), N: (f.last.nonzeroParams as number) / 1e6, D: f.last.tokens * xScale, L: f.last.valLoss }));
      const result = await fitSparseChinchilla(sp, { bootstrap: crossBootstrap, workers, starts: opts.sparseStarts ?? 300 });
      fits.push({
        law: 'sparse-chinchilla', groupKey: g.key, runIds: usable.map((f) => f.r.id), result,
        note: `final validation loss of ${sp.length} runs; S = final sparsity, N = final non-zero linear parameters in millions, D = tokens × ${scaleText(xScale)}; bootstrap resamples runs`,
      });
      opts.onProgress?.(`sparse-chinchilla ${g.key}`);
    }

    // 5. The Journey Matters: one Chinchilla law, N = N̄, N_final or N_dense, on dense and pruned runs.
    const dense = finals.filter((f) => finalSparsityOf(f.r) === 0);
    if (pruned.length === 0 || dense.length === 0) {
      skipped.push(`journey-matters ${g.key}: needs dense and pruned runs (${dense.length} dense, ${pruned.length} pruned)`);
      continue;
    }
    const runs = usable.map((f) => ({
      id: f.r.id, label: f.r.label, pruned: finalSparsityOf(f.r) > 0,
      avgNonzero: f.r.avgNonzeroParams, finalNonzero: f.last.nonzeroParams as number, dense: f.r.linearParams, tokens: f.last.tokens, loss: f.last.valLoss,
    }));
    const comparison = await compareNDefinitions(runs, { ...chinStarts, workers });
    journeys.push({ groupKey: g.key, runs, comparison });
    opts.onProgress?.(`journey-matters ${g.key}`);
  }
  return { fits, journeys, skipped };
}

/** Group key of one Journey Matters row in `fits`: `<group> | N=N̄` etc., and `<group> | verdict`. */
export const JOURNEY_LAW = 'journey-matters';
export function journeyRowKey(groupKey: string, n: NDefinition | 'verdict'): string {
  return `${groupKey} | ${n === 'verdict' ? 'verdict' : JOURNEY_N_KEY[n]}`;
}

export { N_DEFINITIONS, JOURNEY_N_KEY, journeyVerdictText };

/** The report's input from the same data and fits. */
export function reportInput(data: SweepData, set: SweepFits): ReportInput {
  const { fits } = set;
  const curveFits = fits
    .filter((f) => f.law === 'relu-logspace' || f.law === 'silu-power')
    .flatMap((f) => f.runIds.map((runId) => ({ runId, xScale: f.xScale, result: f.result, group: f.groupKey })));
  const wd = fits.filter((f) => f.law === 'width-depth');
  const chin = fits.filter((f) => f.law === 'chinchilla');
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
    widthDepthFits: wd.map((f) => ({ group: f.groupKey, runIds: f.runIds, result: f.result })),
    chinchillaFits: chin.map((f) => ({ group: f.groupKey, runIds: f.runIds, result: f.result })),
    otherFits: fits.filter((f) => f.law === 'sparse-chinchilla').map((f) => ({ name: f.groupKey, result: f.result })),
    journeys: set.journeys.map((j) => ({ group: j.groupKey, runs: j.runs, comparison: j.comparison })),
  };
}
