// Activation-sparsity measurements of a model through its SparsityProbe (see docs/design.md §1).
//
// One `probe.capture()` per measurement: each layer's activations are copied out once, every
// threshold-based metric reads the cached per-layer CETT curves (./layerStats), and `ppl-p%` only calls
// `probe.lossWithThresholds` per search step (one forward pass each in the models).
//
// Choices, and why:
// - Every ratio is per layer the mean over tokens of the active fraction; the model value is the mean
//   over layers (Sparsing Law's "activation ratio"). Per-layer values go to `layers`.
// - `cett-v` follows "ReLU² Wins" (Zhang et al. 2024): one threshold per layer on the neuron-output
//   magnitude c_i = |h_i|·‖W_down[i,:]‖, chosen so that the token-mean of ‖Σ_{c_i<τ} h_i W_down[i,:]‖ /
//   ‖out‖ is the target. The curve is a step function of τ and need not be monotone (dropped outputs can
//   cancel), so we take the largest τ at which the running maximum of the curve is still ≤ v: "at most v",
//   exact on the step grid, and monotone in v (so a larger CETT never reports more active neurons).
//   Tokens with out = 0 are left out of the mean (their CETT is 0/0). Thresholds handed to the model sit
//   halfway between two consecutive contributions, so float32 rounding in the model cannot flip a neuron.
// - `ppl-p%` follows Sparsing Law (Luo et al. 2024): one CETT value for all layers, found by a bracketed
//   search on exp(loss(τ(v)) − dense loss) = 1 + p/100 within 0.05 pp (`PPL_TOLERANCE`). For ReLU, v = 0
//   drops exactly the zero neurons, so ppl-p% ≤ exact always holds.
// - `topk-r`: the nominal ratio k/dFF is fixed by construction, so we report as the activation ratio the
//   fraction of the k that actually contribute (c > 0), and in `detail` the nominal ratio and the CETT
//   that keeping only k costs: the figure that says whether r was a sensible budget.
// - Dead neurons (active on < 0.1% of tokens, pooled over layers): by `exact` when the activation is
//   ReLU-family (relu, relu2) or train-time Top-k makes exact zeros; otherwise by the primary metric's
//   rule (for cett/ppl: c ≥ that layer's τ). Without `options`, `exact` is used when ≥ 1% of h is
//   exactly zero.
import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from '../../domain/spec';
import type { LayerMetric, MetricSummary } from '../types';
import { type Cut, DEFAULT_CURVE_TOKENS, LayerStats } from './layerStats';
import { type ParsedMetric, parseMetric } from '../../domain/metricNames';
import type { SparsityProbe } from './probe';

export { parseMetric } from '../../domain/metricNames';
export type { ParsedMetric } from '../../domain/metricNames';

/** A neuron is dead when active on fewer than this fraction of validation tokens. */
export const DEAD_FRACTION = 0.001;
/** `ppl-p%` stops when the perplexity ratio is within this of 1 + p/100 (0.05 percentage points). */
export const PPL_TOLERANCE = 0.0005;
const PPL_MAX_EVALUATIONS = 40;

export interface MeasureOptions {
  /** The model's activation: `relu`/`relu2` make dead neurons counted by `exact`. */
  activation?: Activation;
  /** Train-time Top-k (Lazy Neuron) also produces exact zeros, so dead neurons are counted by `exact`. */
  topK?: number | null;
  /** Build each layer's CETT curve from at most this many validation tokens (default 512, evenly strided);
   *  thresholds are then estimates, activation ratios are still counted over every token. */
  curveTokens?: number;
}

export interface SparsityMeasurement {
  /** One per requested metric, in the order asked (the primary is appended if it was not asked). */
  metrics: MetricSummary[];
  layers: LayerMetric[];
  /** Fraction of FFN neurons active on < 0.1% of tokens. */
  deadRatio: number;
}

/** Rule-specific result for one layer: its activation ratio and per-neuron active-token counts. */
interface LayerResult {
  ratio: number;
  perNeuron: () => Uint32Array;
}

interface MetricResult {
  summary: MetricSummary;
  perLayer: LayerResult[];
}

/**
 * Measure the activation ratio of every FFN layer under each metric in `metrics` (names as stored, see
 * `parseMetric`); the model figure is the mean over layers. `primary` decides the dead-neuron rule for
 * non-ReLU models. Throws on an unknown metric name before touching the model.
 */
export function measureSparsity(
  probe: SparsityProbe,
  metrics: string[],
  primary: string,
  options: MeasureOptions = {},
): SparsityMeasurement {
  const names = [...new Set([...metrics, primary])];
  const parsed = names.map(parseMetric);

  const { loss: denseLoss, stats } = captureLayers(probe, options.curveTokens ?? DEFAULT_CURVE_TOKENS);
  const ctx = new MeasureContext(probe, denseLoss, stats);
  const results = new Map<string, MetricResult>();
  for (const m of parsed) if (!results.has(m.name)) results.set(m.name, ctx.measure(m));

  const layers: LayerMetric[] = [];
  for (const name of names) {
    const r = results.get(name);
    if (r === undefined) continue;
    r.perLayer.forEach((l, layer) => layers.push({ metric: name, layer, activationRatio: l.ratio }));
  }

  const useExact =
    options.activation !== undefined
      ? options.activation === 'relu' || options.activation === 'relu2' || (options.topK ?? null) !== null
      : zeroFraction(stats) >= 0.01;
  const deadRule = useExact ? (results.get('exact') ?? ctx.measure(parseMetric('exact'))) : results.get(primary);
  const deadRatio = deadRule === undefined ? 0 : ctx.deadRatio(deadRule.perLayer);

  return {
    metrics: names.map((n) => (results.get(n) as MetricResult).summary),
    layers,
    deadRatio,
  };
}

/** Copy every layer's capture out of tfjs, then free the tensors (the capture belongs to the caller). */
function captureLayers(probe: SparsityProbe, curveTokens: number): { loss: number; stats: LayerStats[] } {
  const cap = probe.capture();
  try {
    if (cap.layers.length !== probe.layers) {
      throw new Error(`probe.capture() returned ${cap.layers.length} layers, probe.layers is ${probe.layers}`);
    }
    const stats = cap.layers.map(({ h, wDown }, l) => {
      // Tolerate [batch, seq, dFF] captures: every leading axis is a token axis.
      const F = h.shape[h.shape.length - 1];
      const T = F === 0 ? 0 : h.size / F;
      const [F2, D] = wDown.shape;
      if (F !== F2) throw new Error(`layer ${l}: h is [${h.shape}] but wDown is [${wDown.shape}]`);
      return new LayerStats(toFloat32(h.dataSync()), toFloat32(wDown.dataSync()), T, F, D, curveTokens);
    });
    return { loss: cap.loss, stats };
  } finally {
    for (const { h, wDown } of cap.layers) {
      // A model handing out its live weight variable must not lose it.
      if (!(h instanceof tf.Variable)) h.dispose();
      if (!(wDown instanceof tf.Variable)) wDown.dispose();
    }
  }
}

function toFloat32(a: ArrayLike<number>): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

function zeroFraction(stats: LayerStats[]): number {
  let zeros = 0;
  let n = 0;
  for (const s of stats) {
    for (let i = 0; i < s.h.length; i++) if (s.h[i] === 0) zeros++;
    n += s.h.length;
  }
  return n === 0 ? 0 : zeros / n;
}

const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

class MeasureContext {
  /** Losses already evaluated, keyed by the per-layer cut positions. */
  private readonly lossCache = new Map<string, number>();

  constructor(
    private readonly probe: SparsityProbe,
    private readonly denseLoss: number,
    private readonly stats: LayerStats[],
  ) {}

  measure(m: ParsedMetric): MetricResult {
    switch (m.kind) {
      case 'exact':
        return this.ruleMetric(m.name, null);
      case 'fat': {
        const r = this.ruleMetric(m.name, m.eps);
        r.summary.detail = { threshold: m.eps };
        return r;
      }
      case 'topk':
        return this.topK(m.name, m.ratio);
      case 'cett':
        return this.cett(m.name, m.cett);
      case 'ppl':
        return this.ppl(m.name, m.percent);
    }
  }

  deadRatio(perLayer: LayerResult[]): number {
    let dead = 0;
    let n = 0;
    perLayer.forEach((l, li) => {
      const counts = l.perNeuron();
      const limit = DEAD_FRACTION * this.stats[li].tokens;
      for (let i = 0; i < counts.length; i++) if (counts[i] < limit) dead++;
      n += counts.length;
    });
    return n === 0 ? 0 : dead / n;
  }

  /** `eps` null: h ≠ 0 (exact); else |h| > eps (FAT-ε). */
  private ruleMetric(name: string, eps: number | null): MetricResult {
    const perLayer = this.stats.map((s) => {
      const r = s.countAbove(eps);
      return { ratio: r.ratio, perNeuron: () => r.perNeuron };
    });
    return { summary: { metric: name, activationRatio: mean(perLayer.map((l) => l.ratio)) }, perLayer };
  }

  /** k = ceil(ratio·dFF) per token (with a 1e-9 guard so 0.1·1000 is 100, not 101). The nominal ratio
   *  k/dFF holds by construction, so what is measured is (a) how many of the k actually contribute
   *  (c > 0; fewer when a ReLU token has fewer than k non-zeros), reported as the activation ratio, and
   *  (b) the CETT that keeping only k costs, in `detail.cett`. */
  private topK(name: string, ratio: number): MetricResult {
    const ks: number[] = [];
    const errs: number[] = [];
    const perLayer = this.stats.map((s) => {
      const k = Math.max(1, Math.ceil(ratio * s.neurons - 1e-9));
      const r = s.topK(k);
      ks.push(k / s.neurons);
      errs.push(r.cett);
      return { ratio: r.ratio, perNeuron: () => r.perNeuron };
    });
    return {
      summary: {
        metric: name,
        activationRatio: mean(perLayer.map((l) => l.ratio)),
        detail: { nominal: mean(ks), cett: mean(errs) },
      },
      perLayer,
    };
  }

  private cett(name: string, v: number): MetricResult {
    const cuts = this.stats.map((s) => s.cutForCett(v));
    return {
      summary: {
        metric: name,
        activationRatio: mean(cuts.map((c, l) => this.stats[l].activationRatio(c))),
        detail: { cett: v, achieved: mean(cuts.map((c) => c.cett)) },
      },
      perLayer: this.cutResults(cuts),
    };
  }

  private cutResults(cuts: Cut[]): LayerResult[] {
    return cuts.map((c, li) => ({ ratio: this.stats[li].activationRatio(c), perNeuron: () => this.stats[li].activeCountsAt(c) }));
  }

  /** Perplexity ratio exp(loss − denseLoss) with every layer cut at its threshold for CETT v. */
  private pplRatio(v: number): { ratio: number; cuts: Cut[]; fresh: boolean } {
    const cuts = this.stats.map((s) => s.cutForCett(v));
    const key = cuts.map((c) => c.k).join(',');
    let loss = this.lossCache.get(key);
    const fresh = loss === undefined;
    if (loss === undefined) {
      loss = this.probe.lossWithThresholds(cuts.map((c) => c.tau));
      this.lossCache.set(key, loss);
    }
    return { ratio: Math.exp(loss - this.denseLoss), cuts, fresh };
  }

  /**
   * PPL-p% (Sparsing Law, Luo et al. 2024): the one CETT value v, shared by all layers, at which the
   * perplexity ratio is 1 + p/100 (±0.05 pp). The per-layer thresholds τ_l(v) are monotone in v, so the
   * ratio is (up to evaluation noise) monotone too; we bracket [0, 1] and alternate bisection with an
   * Illinois false-position step. Edge cases: if v = 0 (drop only neurons contributing exactly nothing)
   * already reaches the target, v = 0 is reported; if even v = 1 (drop everything CETT allows) stays
   * below it, v = 1 is reported with `converged: 0`. The steps of τ_l(v) are discrete, so when no v lands
   * within tolerance the closest evaluated point is reported, again with `converged: 0`.
   */
  private ppl(name: string, percent: number): MetricResult {
    const target = 1 + percent / 100;
    const f = (v: number) => {
      const r = this.pplRatio(v);
      return { v, ...r, err: r.ratio - target };
    };
    type Point = ReturnType<typeof f>;
    const evaluated: Point[] = [];
    let calls = 0;
    const at = (v: number): Point => {
      const p = f(v);
      if (p.fresh) calls++;
      evaluated.push(p);
      return p;
    };
    let best: Point;
    let lo = at(0);
    // A diverged model (NaN/Inf loss) has no PPL-p% point: report v = 0, not converged, without searching.
    if (!Number.isFinite(lo.err) || lo.err >= -PPL_TOLERANCE) best = lo;
    else {
      let hi = at(1);
      if (!Number.isFinite(hi.err)) best = lo;
      else if (hi.err <= PPL_TOLERANCE) best = hi;
      else {
        // Invariant: lo.err < 0 < hi.err.
        let loW = 1;
        let hiW = 1;
        let found: Point | null = null;
        for (let i = 0; i < 200 && calls < PPL_MAX_EVALUATIONS && hi.v - lo.v > 1e-12; i++) {
          let v: number;
          if (i % 2 === 0) v = (lo.v + hi.v) / 2;
          else {
            const a = lo.err * loW;
            const b = hi.err * hiW;
            v = lo.v + ((hi.v - lo.v) * -a) / (b - a);
            const margin = (hi.v - lo.v) * 1e-3;
            v = Math.min(hi.v - margin, Math.max(lo.v + margin, v));
          }
          const p = at(v);
          if (!Number.isFinite(p.err)) break;
          if (Math.abs(p.err) <= PPL_TOLERANCE) {
            found = p;
            break;
          }
          if (p.err < 0) {
            lo = p;
            loW = 1;
            hiW /= 2;
          } else {
            hi = p;
            hiW = 1;
            loW /= 2;
          }
        }
        best = found ?? evaluated.filter((p) => Number.isFinite(p.err)).reduce((a, b) => (Math.abs(b.err) < Math.abs(a.err) ? b : a));
      }
    }
    return {
      summary: {
        metric: name,
        activationRatio: mean(best.cuts.map((c, l) => this.stats[l].activationRatio(c))),
        detail: {
          cett: best.v,
          pplRatio: best.ratio,
          converged: Math.abs(best.err) <= PPL_TOLERANCE ? 1 : 0, // NaN compares false: 0
          evaluations: calls,
        },
      },
      perLayer: this.cutResults(best.cuts),
    };
  }
}
