/**
 * Honest grouping of runs for sweep fits: runs are pooled into one fit only when their configs
 * agree on every field except the seed and the law's own x (e.g. the token count for the
 * activation-ratio curve, the model size for a cross-size law). The group key is readable:
 * `relu d128 L2 cubic 0.25→0.75 s=0.5 lr=3e-3 steps=600`, naming only the fields on which the
 * sweep's configs differ, in a fixed order (model, pruning, optimiser, training, the rest).
 *
 * Configs are plain JSON objects (RunConfig as stored in `runs.config`); nested fields are
 * addressed by dotted paths (`pruning.start`).
 */

export type ConfigValue = string | number | boolean | null;
export type FlatConfig = Record<string, ConfigValue>;

/** Flattens nested objects into dotted paths; arrays become their JSON text. */
export function flattenConfig(v: unknown, prefix = '', out: FlatConfig = {}): FlatConfig {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flattenConfig(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(v)) out[prefix] = JSON.stringify(v);
  else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) out[prefix] = v;
  else if (v !== undefined) out[prefix] = String(v);
  return out;
}

/** Fields never used to split groups: the seed (replicates are pooled) — plus the law's x, given per call. */
export const ALWAYS_POOLED = ['seed'];

/** Compact number: 0.001 → 1e-3, 0.25 → 0.25, 600 → 600, 2000000 → 2e6. */
export function shortNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-2) {
    const [m, e] = v.toExponential().split('e');
    const mant = Number(Number(m).toPrecision(3)).toString();
    return `${mant}e${Number(e)}`;
  }
  return Number(v.toPrecision(4)).toString();
}

const fmt = (v: ConfigValue): string => (typeof v === 'number' ? shortNumber(v) : String(v));

/** How each known field is written; unknown fields are `lastPathSegment=value`. Order = key order. */
const FIELD_FORMAT: Array<[string, (v: ConfigValue) => string]> = [
  ['model.family', (v) => String(v)],
  ['model.activation', (v) => String(v)],
  ['model.topK', (v) => (v === null ? 'topK=none' : `topK=${fmt(v)}`)],
  ['model.dModel', (v) => `d${fmt(v)}`],
  ['model.nLayers', (v) => `L${fmt(v)}`],
  ['model.ffnMult', (v) => `ffn×${fmt(v)}`],
  ['model.ffn', (v) => String(v)],
  ['pruning.schedule', (v) => (v === 'none' ? 'dense' : String(v))],
];
const KNOWN = new Set([...FIELD_FORMAT.map(([k]) => k), 'pruning.start', 'pruning.end', 'pruning.initialSparsity', 'pruning.finalSparsity', 'optim.lr', 'training.steps']);

export interface RunGroup<T> {
  /** readable key; `all runs` when the configs differ only in pooled fields */
  key: string;
  /** the values of the differing fields for this group (dotted paths) */
  fields: FlatConfig;
  members: T[];
}

/**
 * Groups items by every config field on which the configs differ, except `pooled` (the seed
 * and the law's x, as dotted paths, e.g. ['seed', 'training.steps'] for a law in the token
 * count). Groups come in order of first appearance. Keys are unique: should two groups format to
 * the same text (values that print alike), the later one gets ` #2`, ` #3`, ….
 */
export function groupRunsByConfig<T>(items: readonly T[], configOf: (t: T) => unknown, pooled: readonly string[] = []): RunGroup<T>[] {
  const skip = new Set([...ALWAYS_POOLED, ...pooled]);
  const flats = items.map((t) => flattenConfig(configOf(t)));
  const allKeys = new Set(flats.flatMap((f) => Object.keys(f)));
  const differing = [...allKeys].filter((k) => !skip.has(k) && !isUnder(k, skip) && new Set(flats.map((f) => JSON.stringify(f[k] ?? null))).size > 1);
  const groups = new Map<string, RunGroup<T>>();
  items.forEach((t, i) => {
    const fields: FlatConfig = Object.fromEntries(differing.map((k) => [k, flats[i][k] ?? null]));
    const id = JSON.stringify(differing.map((k) => fields[k]));
    const g = groups.get(id);
    if (g) g.members.push(t);
    else groups.set(id, { key: formatGroupKey(fields), fields, members: [t] });
  });
  const seen = new Map<string, number>();
  const out = [...groups.values()];
  for (const g of out) {
    const n = (seen.get(g.key) ?? 0) + 1;
    seen.set(g.key, n);
    if (n > 1) g.key = `${g.key} #${n}`;
  }
  return out;
}

function isUnder(k: string, prefixes: Set<string>): boolean {
  for (const p of prefixes) if (k.startsWith(`${p}.`)) return true;
  return false;
}

/** Readable text for the differing fields of one group (see the module comment). */
export function formatGroupKey(fields: FlatConfig): string {
  const parts: string[] = [];
  for (const [k, f] of FIELD_FORMAT) if (k in fields) parts.push(f(fields[k]));
  if ('pruning.start' in fields || 'pruning.end' in fields) {
    parts.push(`${'pruning.start' in fields ? fmt(fields['pruning.start']) : '·'}→${'pruning.end' in fields ? fmt(fields['pruning.end']) : '·'}`);
  }
  if ('pruning.initialSparsity' in fields) parts.push(`s0=${fmt(fields['pruning.initialSparsity'])}`);
  if ('pruning.finalSparsity' in fields) parts.push(`s=${fmt(fields['pruning.finalSparsity'])}`);
  if ('optim.lr' in fields) parts.push(`lr=${fmt(fields['optim.lr'])}`);
  if ('training.steps' in fields) parts.push(`steps=${fmt(fields['training.steps'])}`);
  for (const k of Object.keys(fields).sort()) {
    if (KNOWN.has(k)) continue;
    parts.push(`${k.split('.').pop()}=${fmt(fields[k])}`);
  }
  return parts.length > 0 ? parts.join(' ') : 'all runs';
}
