// How much does a sparsity metric move when only the validation set changes? (`sparsity bench ppl-noise`)
//
// PPL-p% (Sparsing Law, Luo et al. 2024) searches for the CETT at which the validation perplexity rises by
// p% over the dense model. With a small validation set the dense perplexity itself and the searched ratio
// carry sampling noise; a study must pick `data.valSize` so that this noise is small against the effects it
// wants to decide (ReLU vs SiLU, the trend over tokens). This bench trains a run of a sweep file in-process
// for `steps`, then measures its metrics on `subsets` disjoint validation sets of each size (windows
// 0..v-1 are the run's own set; the others follow it in the held-out split) and reports, per size, the
// mean and the standard deviation across sets of the validation loss and of every metric's activation ratio.
import * as tf from '@tensorflow/tfjs-core';
import { createTrainer } from '../engine';
import { availableValidationWindows } from '../engine/data/brown';
import type { Batch } from '../engine/model/network';
import type { BackendName } from '../engine/types';
import { runAt, gridSize } from '../domain/grid';
import type { RunConfig, SweepSpec } from '../domain/spec';
import { UsageError } from '../domain/errors';
import { enginePaths } from '../stack/paths';

export interface NoiseCell {
  valSize: number;
  /** Validation tokens per set (examples for the MLP). */
  tokens: number;
  subsets: number;
  valLoss: { mean: number; sd: number };
  /** Per metric: mean and sd across the sets of the model's activation ratio; `sdPp` = sd in percentage points. */
  metrics: Record<string, { mean: number; sd: number; sdPp: number; values: number[] }>;
  seconds: number;
}

export interface PplNoiseRun {
  index: number;
  label: string;
  steps: number;
  trainSeconds: number;
  tokensPerSec: number;
  cells: NoiseCell[];
}

export interface PplNoiseResult {
  sweep: string;
  backend: BackendName;
  /** Validation windows the held-out split holds (transformer); the largest size × subsets must fit. */
  availableWindows: number | null;
  runs: PplNoiseRun[];
}

export interface PplNoiseOptions {
  spec: SweepSpec;
  /** Run indices of the sweep to measure (default: the first run of each activation). */
  runs?: number[];
  /** Training steps before measuring (default: the run's own). */
  steps?: number;
  valSizes: number[];
  subsets: number;
  backend?: BackendName;
  log: (line: string) => void;
}

function meanSd(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : NaN;
  return { mean, sd };
}

/** Examples `start .. start+count-1` of a validation batch (rows of seqLen tokens for the transformer). */
function sliceBatch(batch: Batch, perExample: number, start: number, count: number): Batch {
  return tf.tidy(() => {
    const inputs = batch.inputs.rank === 1 ? tf.slice(batch.inputs, [start * perExample], [count * perExample]) : tf.slice(batch.inputs, [start, 0], [count, -1]);
    const labels = tf.slice(batch.labels, [start * perExample], [count * perExample]);
    return { inputs, labels };
  });
}

function firstRunPerActivation(spec: SweepSpec): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (let i = 0; i < gridSize(spec); i++) {
    const a = runAt(spec, i).config.model.activation;
    if (!seen.has(a)) {
      seen.add(a);
      out.push(i);
    }
  }
  return out;
}

/** Throws UsageError for bad options (exit 2 at the CLI). */
export async function benchPplNoise(opts: PplNoiseOptions): Promise<PplNoiseResult> {
  const { spec } = opts;
  const total = gridSize(spec);
  const indices = opts.runs ?? firstRunPerActivation(spec);
  for (const i of indices) if (!Number.isInteger(i) || i < 0 || i >= total) throw new UsageError(`--runs: ${i} is not a run of ${spec.name} (0..${total - 1})`);
  if (opts.valSizes.length === 0 || opts.valSizes.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`--val-sizes: positive integers, e.g. 16,64,256 (got ${opts.valSizes.join(',')})`);
  if (!Number.isInteger(opts.subsets) || opts.subsets < 2) throw new UsageError(`--subsets: at least 2 sets are needed for a standard deviation (got ${opts.subsets})`);
  const maxV = Math.max(...opts.valSizes);
  const pool = maxV * opts.subsets;
  const paths = enginePaths();
  const result: PplNoiseResult = { sweep: spec.name, backend: opts.backend ?? 'tensorflow', availableWindows: null, runs: [] };
  for (const index of indices) {
    const planned = runAt(spec, index);
    const steps = opts.steps ?? planned.config.training.steps;
    // One validation batch holding every set: the run's own set is its first valSize examples.
    const config: RunConfig = { ...planned.config, data: { ...planned.config.data, valSize: pool }, training: { ...planned.config.training, steps } };
    const trainer = await createTrainer(config, { paths, backend: opts.backend });
    result.backend = trainer.backend;
    const model = config.model;
    const perExample = model.family === 'transformer' ? model.seqLen : 1;
    try {
      if (model.family === 'transformer' && result.availableWindows === null) {
        result.availableWindows = config.data.kind === 'brown' ? availableValidationWindows(model.vocabSize, model.seqLen, paths.cacheDir) : null;
        if (result.availableWindows !== null && result.availableWindows < pool) {
          throw new UsageError(`--val-sizes/--subsets: ${opts.subsets} sets of ${maxV} windows need ${pool} validation windows; the held-out split holds ${result.availableWindows} (sets would overlap)`);
        }
      }
      opts.log(`${planned.label}: training ${steps} steps on ${trainer.backend} …`);
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) await trainer.trainStep();
      const trainSeconds = (performance.now() - t0) / 1000;
      const cells: NoiseCell[] = [];
      for (const v of opts.valSizes) {
        const c0 = performance.now();
        const losses: number[] = [];
        const byMetric = new Map<string, number[]>();
        for (let k = 0; k < opts.subsets; k++) {
          const batch = sliceBatch(trainer.validationBatch, perExample, k * v, v);
          try {
            const m = trainer.measureOn(batch);
            losses.push(m.valLoss);
            for (const s of m.metrics) byMetric.set(s.metric, [...(byMetric.get(s.metric) ?? []), s.activationRatio]);
          } finally {
            tf.dispose([batch.inputs, batch.labels]);
          }
        }
        const metrics: NoiseCell['metrics'] = {};
        for (const [name, values] of byMetric) {
          const { mean, sd } = meanSd(values);
          metrics[name] = { mean, sd, sdPp: sd * 100, values };
        }
        const cell: NoiseCell = { valSize: v, tokens: v * perExample, subsets: opts.subsets, valLoss: meanSd(losses), metrics, seconds: (performance.now() - c0) / 1000 };
        cells.push(cell);
        opts.log(
          `${planned.label} valSize ${v}: loss ${cell.valLoss.mean.toFixed(3)} ± ${cell.valLoss.sd.toFixed(3)}; ` +
            Object.entries(metrics).map(([n, x]) => `${n} ${(x.mean * 100).toFixed(2)}% ± ${x.sdPp.toFixed(2)} pp`).join(', '),
        );
      }
      result.runs.push({ index, label: planned.label, steps, trainSeconds, tokensPerSec: trainer.tokens / trainSeconds, cells });
    } finally {
      trainer.dispose();
    }
  }
  return result;
}
