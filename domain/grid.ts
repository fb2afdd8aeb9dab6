// Expanding a sweep into its runs: pure and deterministic, so the sweep workflow can
// compute run i of 10,000 without storing the list, and the CLI can check every run
// before anything starts.
import { headsNear, solveSizeFor } from './sizing';
import { hashJson } from './hash';
import type { ModelConfig, PruningConfig, RunConfig, SizeSpec, SweepSpec } from './spec';

export interface PlannedRun {
  index: number;
  /** Hash of `config`: identical training configurations share a key across sweeps. */
  key: string;
  /** Short human-readable description, e.g. `relu d64 L2 cubic50 s0`. */
  label: string;
  config: RunConfig;
}

export type GridAxis = keyof SweepSpec['grid'];
/** Innermost axis last: consecutive runs differ by seed first, so early results span the grid. */
const AXES: GridAxis[] = ['activation', 'size', 'pruning', 'steps', 'lr', 'seed'];
/** Axes that may be left empty: the base value then stands. */
const OPTIONAL_AXES: GridAxis[] = ['steps', 'lr'];

function axisLength(spec: SweepSpec, axis: GridAxis): number {
  const n = (spec.grid[axis] ?? []).length;
  return n === 0 && OPTIONAL_AXES.includes(axis) ? 1 : n;
}

export function gridSize(spec: SweepSpec): number {
  return AXES.reduce((n, axis) => n * axisLength(spec, axis), 1);
}

function resolveModel(base: ModelConfig, size: SizeSpec): ModelConfig {
  if ('budget' in size) {
    const solved = solveSizeFor(base, size.budget, size.ratio);
    return base.family === 'transformer'
      ? { ...base, dModel: solved.dModel, nLayers: solved.nLayers, nHeads: headsNear(solved.dModel, base.nHeads) }
      : { ...base, dModel: solved.dModel, nLayers: solved.nLayers };
  }
  if (base.family === 'transformer') {
    return { ...base, dModel: size.dModel, nLayers: size.nLayers, nHeads: size.nHeads ?? base.nHeads };
  }
  return { ...base, dModel: size.dModel, nLayers: size.nLayers };
}

export function pruningLabel(p: PruningConfig): string {
  return p.schedule === 'none' ? 'dense' : `${p.schedule}${Math.round(p.finalSparsity * 100)}`;
}

export function runAt(spec: SweepSpec, index: number): PlannedRun {
  const total = gridSize(spec);
  if (!Number.isInteger(index) || index < 0 || index >= total) {
    throw new RangeError(`run index ${index} outside the sweep's ${total} runs`);
  }
  // Mixed-radix decoding of the index, innermost axis last.
  const pick: Record<GridAxis, number> = { activation: 0, size: 0, pruning: 0, steps: 0, lr: 0, seed: 0 };
  let rest = index;
  for (let a = AXES.length - 1; a >= 0; a--) {
    const axis = AXES[a];
    const n = axisLength(spec, axis);
    pick[axis] = rest % n;
    rest = Math.floor(rest / n);
  }
  const activation = spec.grid.activation[pick.activation];
  const model = resolveModel({ ...spec.base.model, activation }, spec.grid.size[pick.size]);
  const pruning = spec.grid.pruning[pick.pruning];
  const steps = spec.grid.steps.length === 0 ? spec.base.training.steps : spec.grid.steps[pick.steps];
  const lrs = spec.grid.lr ?? [];
  const lr = lrs.length === 0 ? spec.base.optim.lr : lrs[pick.lr];
  const seed = spec.grid.seed[pick.seed];
  const config: RunConfig = {
    model,
    data: spec.base.data,
    optim: { ...spec.base.optim, lr },
    training: { ...spec.base.training, steps },
    pruning,
    measure: spec.base.measure,
    seed,
  };
  const stepsPart = spec.grid.steps.length > 1 ? ` T${steps}` : '';
  const lrPart = lrs.length > 1 ? ` lr${lr}` : '';
  const label = `${activation} d${model.dModel} L${model.nLayers} ${pruningLabel(pruning)}${stepsPart}${lrPart} s${seed}`;
  return { index, key: hashJson(config), label, config };
}

/**
 * The runs that differ from run `index` only along `axis`, as indices in that axis's order
 * (`index` itself included). One axis digit of the mixed-radix index changes.
 */
export function alongAxis(spec: SweepSpec, index: number, axis: GridAxis): number[] {
  const at = AXES.indexOf(axis);
  const stride = AXES.slice(at + 1).reduce((n, a) => n * axisLength(spec, a), 1);
  const n = axisLength(spec, axis);
  const digit = Math.floor(index / stride) % n;
  return Array.from({ length: n }, (_, k) => index + (k - digit) * stride);
}

/** Every run, for validation and small sweeps; the workflow uses `runAt` lazily instead. */
export function expandGrid(spec: SweepSpec): PlannedRun[] {
  const total = gridSize(spec);
  const runs: PlannedRun[] = [];
  for (let i = 0; i < total; i++) runs.push(runAt(spec, i));
  return runs;
}

/** Stable, readable id of a run within its sweep: `<sweepId>.r0007`. */
export function runIdOf(sweepId: string, index: number): string {
  return `${sweepId}.r${String(index).padStart(4, '0')}`;
}
