// What `sparsity extend` accepts: the same sweep with grid values added. Anything else changed
// would make the stored runs and the new ones different experiments under one sweep id.
import { UsageError } from './errors';
import { canonicalJson } from './hash';
import type { SweepSpec } from './spec';

type Json = unknown;
type GridAxis = keyof SweepSpec['grid'];

const isRecord = (v: Json): v is Record<string, Json> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The first dotted path at which `a` and `b` differ (`training.steps`), or null when equal. */
export function firstDifference(a: Json, b: Json, at = ''): string | null {
  if (canonicalJson(a) === canonicalJson(b)) return null;
  if (isRecord(a) && isRecord(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], at ? `${at}.${k}` : k);
      if (d) return d;
    }
  }
  return at || '(whole file)';
}

function valueAt(v: Json, dotted: string): Json {
  return dotted.split('.').reduce<Json>((o, k) => (isRecord(o) ? o[k] : undefined), v);
}

const show = (v: Json): string => {
  const text = v === undefined ? '(absent)' : canonicalJson(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

/** An axis's values as the runs see them: an empty optional axis stands for the base value. */
function effectiveAxis(spec: SweepSpec, axis: GridAxis): Json[] {
  const values: Json[] = spec.grid[axis] ?? [];
  if (values.length > 0) return values;
  if (axis === 'steps') return [spec.base.training.steps];
  if (axis === 'lr') return [spec.base.optim.lr];
  return values;
}

/** Everything but the grid; `base.model.activation` is only a placeholder for the activation axis. */
function outsideGrid(spec: SweepSpec): Json {
  const { grid: _grid, ...rest } = spec;
  return { ...rest, base: { ...rest.base, model: { ...rest.base.model, activation: undefined } } };
}

/**
 * Throws a UsageError naming the field when `next` is not `current` with grid values added:
 * any field outside `grid` changed, or a grid value (or an empty optional axis's base value)
 * is missing from `next`.
 */
export function checkExtension(current: SweepSpec, next: SweepSpec): void {
  const rest0 = outsideGrid(current);
  const rest1 = outsideGrid(next);
  const d = firstDifference(rest0, rest1);
  if (d) {
    throw new UsageError(
      `extend: ${d} differs from the stored sweep's (${show(valueAt(rest0, d))} stored, ${show(valueAt(rest1, d))} in the file); ` +
        'an extension may only add grid values (submit a new sweep to change anything else)',
    );
  }
  const axes = [...new Set([...Object.keys(current.grid), ...Object.keys(next.grid)])].sort() as GridAxis[];
  for (const axis of axes) {
    const kept = new Set(effectiveAxis(next, axis).map(canonicalJson));
    for (const v of effectiveAxis(current, axis)) {
      if (!kept.has(canonicalJson(v))) {
        throw new UsageError(`extend: grid.${axis} no longer holds ${show(v)}; an extension may only add values (the stored runs stay as they are)`);
      }
    }
  }
}
