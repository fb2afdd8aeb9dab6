// What a sweep file can say that is valid field by field but cannot run: values Temporal cannot
// hold and values that make no sense together. Pure; `validateSweep` refuses each with the field
// path and value (exit 2) before anything is written or started.
import { canonicalJson } from './hash';
import { checkpointBytes, solveSizeFor, tokensPerStep, trainFlopsPerToken } from './sizing';
import { POSTGRES_STORE_MAX_BYTES } from './defaults';
import { parseMetric } from './metricNames';
import { runAt, gridSize } from './grid';
import type { ModelConfig, PruningConfig, SizeSpec, SweepSpec } from './spec';
import {
  HISTORY_EVENT_LIMIT,
  HISTORY_HEADROOM,
  ID_LENGTH_LIMIT,
  PAYLOAD_LIMIT_BYTES,
  PENDING_CHILDREN_LIMIT,
  SWEEP_EVENTS_FIXED,
  SWEEP_EVENTS_PER_RUN,
} from './temporalLimits';

export interface Infeasibility {
  /** Field path in the sweep file, e.g. `grid.pruning[1].initialSparsity`. */
  path: string;
  message: string;
}

/** A budget-sized shape must land this close to its budget (the sizing contract, README). */
export const BUDGET_TOLERANCE = 0.05;

/**
 * Slowest throughput a training slot is assumed to reach, FLOP/s, by the kind of worker the task
 * queue names (README, "GPU fleet"): queues named `gpu…` are served by GPU slots, assumed at least
 * 2 TFLOP/s (a few percent of an A100's dense float32/TF32 rate); any other queue may be served by
 * CPU slots on the wasm backend, assumed at least a quarter of what wasm measured on a 2-core machine
 * (`sparsity bench train --backend wasm`: 376 tokens/s × 33 MFLOP/token ≈ 12 GFLOP/s). A heartbeat
 * timeout shorter than a step or an evaluation at this rate would have healthy slots presumed dead
 * (an evaluation runs without heartbeats in between).
 */
export function slowestFlops(taskQueue: string): { flops: number; kind: string } {
  return taskQueue.startsWith('gpu') ? { flops: 2e12, kind: 'a GPU queue' } : { flops: 3e9, kind: 'the slowest CPU backend' };
}

/** Forward passes of one evaluation: the loss, one per plain metric, ~13 for a PPL-p% bisection. */
function evalForwardPasses(metrics: string[]): number {
  let passes = 1;
  for (const m of metrics) passes += parseMetric(m).kind === 'ppl' ? 13 : 0;
  return passes;
}

function describe(v: unknown): string {
  return JSON.stringify(v);
}

/** Which runs of the grid would be the same training run: duplicates per axis, named. */
function repeatedValues(spec: SweepSpec, out: Infeasibility[]): void {
  const normalisePruning = (p: PruningConfig) => (p.schedule === 'none' ? { schedule: 'none' } : p);
  const axes: [keyof SweepSpec['grid'], (v: never) => unknown][] = [
    ['activation', (v) => v],
    ['size', (v) => v],
    ['pruning', (v: PruningConfig) => normalisePruning(v)],
    ['seed', (v) => v],
    ['steps', (v) => v],
    ['lr', (v) => v],
  ];
  for (const [axis, norm] of axes) {
    const seen = new Map<string, number>();
    (spec.grid[axis] as unknown[]).forEach((v, i) => {
      const key = canonicalJson(norm(v as never));
      const first = seen.get(key);
      if (first !== undefined) {
        out.push({ path: `grid.${axis}[${i}]`, message: `repeats grid.${axis}[${first}] (${describe(v)}): every run with it would train twice` });
      } else seen.set(key, i);
    });
  }
  // Sizes can differ as written and still resolve to one shape (two budgets, or a budget and an explicit size).
  const shapes = new Map<string, number>();
  spec.grid.size.forEach((_, i) => {
    const m = resolvedModel(spec, i);
    const key = canonicalJson(m);
    const first = shapes.get(key);
    if (first !== undefined && canonicalJson(spec.grid.size[first]) !== canonicalJson(spec.grid.size[i])) {
      out.push({
        path: `grid.size[${i}]`,
        message: `resolves to the same model as grid.size[${first}] (dModel ${m.dModel}, nLayers ${m.nLayers}): every run with it would train twice`,
      });
    } else if (first === undefined) shapes.set(key, i);
  });
}

function resolvedModel(spec: SweepSpec, sizeIndex: number): ModelConfig {
  const one = { ...spec, grid: { ...spec.grid, size: [spec.grid.size[sizeIndex]], activation: [spec.grid.activation[0]], pruning: [spec.grid.pruning[0]], seed: [spec.grid.seed[0]], steps: [], lr: [] } };
  return runAt(one, 0).config.model;
}

/** A `{budget, ratio}` size whose solved d/n is further than this factor from `ratio` is refused. */
export const RATIO_TOLERANCE = 1.5;

function budgets(spec: SweepSpec, out: Infeasibility[]): void {
  spec.grid.size.forEach((size: SizeSpec, i) => {
    if (!('budget' in size)) return;
    const solved = solveSizeFor(spec.base.model, size.budget, size.ratio);
    const err = Math.abs(solved.params - size.budget) / size.budget;
    if (err > BUDGET_TOLERANCE) {
      out.push({
        path: `grid.size[${i}]`,
        message:
          `no valid shape reaches budget ${size.budget} at ratio ${size.ratio} within ${BUDGET_TOLERANCE * 100}% ` +
          `(nearest: dModel ${solved.dModel}, nLayers ${solved.nLayers} = ${solved.params} parameters, ${err > 0 ? '+' : ''}${((solved.params / size.budget - 1) * 100).toFixed(0)}%)`,
      });
      return;
    }
    // Within the budget, the shape nearest the ratio can still be far from it (small budgets have few
    // shapes: 0.2M at ratio 16 would otherwise train d40 L11, ratio 3.6), which silently changes the axis.
    const got = solved.dModel / solved.nLayers;
    if (Math.abs(Math.log(got / size.ratio)) > Math.log(RATIO_TOLERANCE)) {
      out.push({
        path: `grid.size[${i}]`,
        message:
          `no valid shape within ${BUDGET_TOLERANCE * 100}% of budget ${size.budget} has a width/depth ratio within ${RATIO_TOLERANCE}× of ${size.ratio} ` +
          `(nearest: dModel ${solved.dModel}, nLayers ${solved.nLayers}, ratio ${got.toFixed(1)}); give { dModel, nLayers } explicitly or another budget`,
      });
    }
  });
}

function pruning(spec: SweepSpec, out: Infeasibility[]): void {
  spec.grid.pruning.forEach((p, i) => {
    const at = `grid.pruning[${i}]`;
    if (p.schedule === 'none') {
      if (p.finalSparsity > 0 || p.initialSparsity > 0) {
        out.push({ path: `${at}.schedule`, message: `"none" never prunes, but finalSparsity ${p.finalSparsity} / initialSparsity ${p.initialSparsity} are set (choose cubic, linear or oneshot)` });
      }
      return;
    }
    if (p.initialSparsity > p.finalSparsity) {
      out.push({
        path: `${at}.initialSparsity`,
        message: `${p.initialSparsity} is above finalSparsity ${p.finalSparsity}: the run would hold ${p.initialSparsity} sparsity from step 0 while labelled as pruned to ${p.finalSparsity} (masks never un-prune)`,
      });
    }
  });
}

function evalPoints(spec: SweepSpec, out: Infeasibility[]): void {
  const { evalEvery } = spec.base.training;
  const budgets = spec.grid.steps.length ? spec.grid.steps.map((s, i) => [s, `grid.steps[${i}]`] as const) : [[spec.base.training.steps, 'training.steps'] as const];
  for (const [steps, where] of budgets) {
    // evalEvery = steps is a choice (only the final point, e.g. for Chinchilla); longer is a mistake.
    if (evalEvery > steps) {
      out.push({
        path: 'training.evalEvery',
        message: `${evalEvery} is longer than the run (${steps} steps, ${where}): only its last step would be evaluated, no curve to fit; use evalEvery ≤ ${Math.max(1, Math.floor(steps / 2))}`,
      });
      return;
    }
  }
}

/**
 * Past a day for one step or one evaluation at the floor rate (pessimistic by up to ~30× on a fast
 * host), the sweep is mis-sized, not its heartbeat timeout: below it, raising heartbeatTimeout stays
 * the user's way through.
 */
const MAX_SECONDS_PER_STEP = 86_400;

function formatDuration(seconds: number): string {
  if (seconds < 2 * 3600) return `${Math.ceil(seconds / 60)} min`;
  if (seconds < 2 * 86_400) return `${Math.round(seconds / 3600)} h`;
  if (seconds < 2 * 31_557_600) return `${Math.round(seconds / 86_400)} days`;
  return `${(seconds / 31_557_600).toPrecision(2)} years`;
}

function heartbeat(spec: SweepSpec, out: Infeasibility[]): void {
  const floor = slowestFlops(spec.taskQueue);
  const models = spec.grid.size.map((_, i) => resolvedModel(spec, i));
  let worst = { seconds: 0, what: '', model: models[0] };
  for (const model of models) {
    const perToken = trainFlopsPerToken(model);
    const step = (perToken * tokensPerStep(model, spec.base.training.batchSize)) / floor.flops;
    // An evaluation runs forward passes (a third of a training step's FLOPs per token) over the validation set.
    const valTokens = tokensPerStep(model, spec.base.data.valSize);
    const evaluation = ((perToken / 3) * valTokens * evalForwardPasses(spec.base.measure.metrics)) / floor.flops;
    if (step > worst.seconds) worst = { seconds: step, what: 'one training step', model };
    if (evaluation > worst.seconds) worst = { seconds: evaluation, what: 'one evaluation (validation loss and sparsity metrics)', model };
  }
  if (worst.seconds > MAX_SECONDS_PER_STEP) {
    // No heartbeat timeout is the fix for a step that takes hours: name what makes it that large.
    const training = worst.what === 'one training step';
    out.push({
      path: training ? 'training.batchSize' : 'data.valSize',
      message:
        `${worst.what} of the largest model (dModel ${worst.model.dModel}, nLayers ${worst.model.nLayers}) at ` +
        `${training ? `batchSize ${spec.base.training.batchSize}` : `valSize ${spec.base.data.valSize}`} would take ~${formatDuration(worst.seconds)} at ` +
        `${floor.flops / 1e9} GFLOP/s (${floor.kind}): reduce ${training ? 'training.batchSize' : 'data.valSize'} or the model (grid.size)`,
    });
    return;
  }
  if (worst.seconds > spec.heartbeatTimeoutSeconds) {
    out.push({
      path: 'heartbeatTimeout',
      message:
        `${spec.heartbeatTimeoutSeconds} s is shorter than ${worst.what} of the largest model (dModel ${worst.model.dModel}, nLayers ${worst.model.nLayers}) ` +
        `can take: ~${Math.ceil(worst.seconds)} s at ${floor.flops / 1e9} GFLOP/s (${floor.kind}); healthy slots would be presumed dead. ` +
        `Use heartbeatTimeout ≥ ${Math.ceil(worst.seconds * 2)}`,
    });
  }
}

function temporalLimits(spec: SweepSpec, out: Infeasibility[]): void {
  const total = gridSize(spec);
  const perHistory = Math.min(total, spec.continueAsNewEvery ?? total);
  const events = perHistory * SWEEP_EVENTS_PER_RUN + SWEEP_EVENTS_FIXED;
  const maxRunsPerHistory = Math.floor((HISTORY_EVENT_LIMIT * HISTORY_HEADROOM - SWEEP_EVENTS_FIXED) / SWEEP_EVENTS_PER_RUN);
  if (events > HISTORY_EVENT_LIMIT * HISTORY_HEADROOM) {
    out.push({
      path: 'continueAsNewEvery',
      message:
        `${spec.continueAsNewEvery} lets one sweep-workflow history start ${perHistory} of the ${total} runs, about ${events} events, ` +
        `past Temporal's ${HISTORY_EVENT_LIMIT}-event history limit (with ${Math.round((1 - HISTORY_HEADROOM) * 100)}% headroom); use continueAsNewEvery ≤ ${maxRunsPerHistory}`,
    });
  }
  if (spec.maxParallel > PENDING_CHILDREN_LIMIT) {
    out.push({ path: 'maxParallel', message: `${spec.maxParallel} exceeds Temporal's limit of ${PENDING_CHILDREN_LIMIT} pending child workflows per workflow` });
  }
  const trainQueue = `${spec.taskQueue}.train`;
  if (trainQueue.length > ID_LENGTH_LIMIT) {
    out.push({ path: 'taskQueue', message: `${spec.taskQueue.length} characters: with ".train" appended it exceeds Temporal's ${ID_LENGTH_LIMIT}-character limit on names` });
  }
  if (spec.taskQueue.startsWith('/_sys/')) out.push({ path: 'taskQueue', message: `"/_sys/" names are reserved by Temporal (got ${describe(spec.taskQueue)})` });
  // The sweep workflow's input (and every continue-as-new) carries the spec; a sweep id is at most ~90 bytes.
  const payload = new TextEncoder().encode(JSON.stringify({ sweepId: 'x'.repeat(90), spec })).length;
  if (payload > PAYLOAD_LIMIT_BYTES * 0.9) {
    out.push({
      path: 'grid',
      message: `the sweep's definition is ${(payload / 2 ** 20).toFixed(2)} MiB as workflow input, past Temporal's ${PAYLOAD_LIMIT_BYTES / 2 ** 20} MiB payload limit (with 10% headroom): shorten the grid lists`,
    });
  }
}

/** The run with the largest checkpoint (domain/sizing.ts checkpointBytes): what a checkpoint store must take. */
export function largestCheckpoint(spec: SweepSpec): { bytes: number; sizeIndex: number; model: ModelConfig; pruned: boolean } {
  const pruned = spec.grid.pruning.some((p) => p.schedule !== 'none');
  let best = { bytes: 0, sizeIndex: 0, model: resolvedModel(spec, 0), pruned };
  spec.grid.size.forEach((_, i) => {
    const model = resolvedModel(spec, i);
    const bytes = checkpointBytes(model, pruned);
    if (bytes > best.bytes) best = { bytes, sizeIndex: i, model, pruned };
  });
  return best;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;

function checkpointStore(spec: SweepSpec, out: Infeasibility[]): void {
  if (spec.checkpointStore !== 'postgres') return;
  const big = largestCheckpoint(spec);
  if (big.bytes > POSTGRES_STORE_MAX_BYTES) {
    out.push({
      path: 'checkpointStore',
      message:
        `postgres takes checkpoints up to ${mib(POSTGRES_STORE_MAX_BYTES)}, and grid.size[${big.sizeIndex}] (dModel ${big.model.dModel}, nLayers ${big.model.nLayers}) ` +
        `needs ~${mib(big.bytes)} (parameters and both AdamW moments${big.pruned ? ', pruning masks' : ''}): use file:///shared/path or s3://bucket/prefix`,
    });
  }
}

/**
 * A warning for a sweep that names no checkpoint store although its largest checkpoint is more than
 * the postgres store (the workers' default) takes: such runs fail before training on a worker that
 * uses it. Null when there is nothing to say.
 */
export function checkpointStoreWarning(spec: SweepSpec): string | null {
  if (spec.checkpointStore !== undefined) return null;
  const big = largestCheckpoint(spec);
  if (big.bytes <= POSTGRES_STORE_MAX_BYTES) return null;
  return (
    `the largest run's checkpoint (grid.size[${big.sizeIndex}], dModel ${big.model.dModel}, nLayers ${big.model.nLayers}) is ~${mib(big.bytes)}, ` +
    `more than the postgres checkpoint store takes (${mib(POSTGRES_STORE_MAX_BYTES)}): workers on it refuse those runs before training. ` +
    `Start the workers with --checkpoint-store file:///shared/path or s3://bucket/prefix, or set checkpointStore in the sweep file`
  );
}

/** Everything that makes a field-by-field valid sweep impossible or pointless to run, in file order. */
export function infeasibilities(spec: SweepSpec): Infeasibility[] {
  const out: Infeasibility[] = [];
  temporalLimits(spec, out);
  heartbeat(spec, out);
  checkpointStore(spec, out);
  evalPoints(spec, out);
  pruning(spec, out);
  budgets(spec, out);
  repeatedValues(spec, out);
  return out;
}
