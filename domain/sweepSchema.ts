// Validating a sweep file (pure: text in, SweepSpec or UsageError out). Everything a user can get wrong is refused here,
// before any workflow starts or any row is written, with the field path and the bad value.
import YAML from 'yaml';
import { z } from 'zod';
import { parseMetric } from './metricNames';
import { infeasibilities } from './feasibility';
import { gridSize } from './grid';
import { ladderCandidate } from './ladder';
import { DATA_DEFAULTS, MEASURE_DEFAULTS, MODEL_DEFAULTS, OPTIM_DEFAULTS, PRUNING_DEFAULTS, SWEEP_DEFAULTS, TRAINING_DEFAULTS } from './defaults';
import { UsageError } from './errors';
import { ACTIVATIONS, PRUNING_SCHEDULES, type SweepSpec } from './spec';


const posInt = z.number().int().positive();
/** Seeds are stored and viewed as Postgres integers. */
const seedInt = z.number().int().nonnegative().max(2 ** 31 - 1);
const fraction = z.number().min(0).max(1);
/** A grid axis: a list, or one value standing for a list of one. */
const list = <T extends z.ZodTypeAny>(item: T) => z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(item));

const sizeSchema = z.union([
  z.strictObject({ dModel: posInt, nLayers: posInt, nHeads: posInt.optional() }),
  z.strictObject({ budget: z.number().positive(), ratio: z.number().positive() }),
]);

const pruningSchema = z
  .strictObject({
    schedule: z.enum(PRUNING_SCHEDULES),
    start: fraction.default(PRUNING_DEFAULTS.start),
    end: fraction.default(PRUNING_DEFAULTS.end),
    initialSparsity: z.number().min(0).lt(1).default(PRUNING_DEFAULTS.initialSparsity),
    finalSparsity: z.number().min(0).lt(1, 'sparsity must be in [0, 1)').default(PRUNING_DEFAULTS.finalSparsity),
    every: posInt.default(PRUNING_DEFAULTS.every),
    scope: z.enum(['global', 'layer']).default(PRUNING_DEFAULTS.scope),
  })
  .superRefine((p, ctx) => {
    if (p.schedule !== 'none' && p.end < p.start) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: `must be ≥ start (${p.start})`, input: p.end });
    }
    if (p.schedule !== 'none' && p.finalSparsity === 0) {
      ctx.addIssue({ code: 'custom', path: ['finalSparsity'], message: `must be > 0 for schedule ${p.schedule}`, input: 0 });
    }
  });

const modelSchema = z.strictObject({
  family: z.enum(['mlp', 'transformer']).default(MODEL_DEFAULTS.family),
  topK: z.number().gt(0).max(1).nullable().default(MODEL_DEFAULTS.topK),
  ffnMult: z.number().positive().default(MODEL_DEFAULTS.ffnMult),
  ffn: z.enum(['gated', 'plain']).default(MODEL_DEFAULTS.ffn),
  // mlp
  inputDim: posInt.default(MODEL_DEFAULTS.inputDim),
  outputDim: posInt.default(MODEL_DEFAULTS.outputDim),
  // transformer
  nHeads: posInt.default(MODEL_DEFAULTS.nHeads),
  positions: z.enum(['rotary', 'learned']).default(MODEL_DEFAULTS.positions),
  tiedEmbeddings: z.boolean().default(MODEL_DEFAULTS.tiedEmbeddings),
  seqLen: posInt.default(MODEL_DEFAULTS.seqLen),
  vocabSize: z.number().int().min(260).default(MODEL_DEFAULTS.vocabSize),
});

const sweepSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, _ . - only (max 63)'),
  taskQueue: z.string().min(1).default(SWEEP_DEFAULTS.taskQueue),
  maxParallel: posInt.default(SWEEP_DEFAULTS.maxParallel),
  segmentSteps: posInt.default(SWEEP_DEFAULTS.segmentSteps),
  heartbeatTimeout: z.number().positive().default(SWEEP_DEFAULTS.heartbeatTimeoutSeconds),
  maxRuns: posInt.default(SWEEP_DEFAULTS.maxRuns),
  continueAsNewEvery: posInt.default(SWEEP_DEFAULTS.continueAsNewEvery),
  checkpointStore: z
    .string()
    .regex(/^(postgres|file:\/\/\/\S+|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?)$/, 'expected postgres, file:///absolute/path or s3://bucket/prefix')
    .optional(),
  ladder: z.boolean().default(SWEEP_DEFAULTS.ladder),
  // prefault: an omitted section is parsed as {}, so its own defaults apply.
  model: modelSchema.prefault({}),
  data: z
    .strictObject({ kind: z.enum(['brown', 'teacher', 'random-labels']).optional(), valSize: posInt.default(DATA_DEFAULTS.valSize) })
    .prefault({}),
  optim: z
    .strictObject({
      lr: z.number().positive('learning rate must be > 0').default(OPTIM_DEFAULTS.lr),
      schedule: z.enum(['cosine', 'wsd', 'constant']).default(OPTIM_DEFAULTS.schedule),
      // Default applied in validateSweep: it must know whether the file gave `warmup` at all.
      warmup: fraction.optional(),
      warmupSteps: z.number().int().nonnegative().optional(),
      decay: fraction.default(OPTIM_DEFAULTS.decay),
      minLrRatio: fraction.default(OPTIM_DEFAULTS.minLrRatio),
      weightDecay: z.number().min(0).default(OPTIM_DEFAULTS.weightDecay),
      beta1: z.number().min(0).lt(1).default(OPTIM_DEFAULTS.beta1),
      beta2: z.number().min(0).lt(1).default(OPTIM_DEFAULTS.beta2),
      eps: z.number().positive().default(OPTIM_DEFAULTS.eps),
      gradClip: z.number().min(0).default(OPTIM_DEFAULTS.gradClip),
    })
    .prefault({}),
  training: z.strictObject({
    steps: posInt,
    batchSize: posInt.default(TRAINING_DEFAULTS.batchSize),
    evalEvery: posInt.default(TRAINING_DEFAULTS.evalEvery),
  }),
  measure: z
    .strictObject({
      metrics: z.array(z.string()).min(1).default([...MEASURE_DEFAULTS.metrics]),
      primary: z.string().default(MEASURE_DEFAULTS.primary),
    })
    .prefault({}),
  grid: z.strictObject({
    activation: list(z.enum(ACTIVATIONS)),
    size: list(sizeSchema),
    pruning: list(pruningSchema).prefault([{ schedule: 'none' }]),
    seed: list(seedInt).default([0]),
    steps: list(posInt).default([]),
    lr: list(z.number().positive('learning rate must be > 0')).default([]),
  }),
});

export type SweepFileInput = z.input<typeof sweepSchema>;

function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function zodMessage(error: z.ZodError, raw: unknown, source: string): string {
  const lines = error.issues.slice(0, 8).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = pathText(issue.path);
      return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    const value = valueAt(raw, issue.path);
    return `${pathText(issue.path)}: ${issue.message} (got ${describeValue(value)})`;
  });
  const more = error.issues.length > 8 ? `\n  ... and ${error.issues.length - 8} more` : '';
  return `invalid sweep file ${source}:\n  ${lines.join('\n  ')}${more}`;
}

/** Turns the parsed YAML document into a SweepSpec, or throws UsageError naming what is wrong. */
export function validateSweep(raw: unknown, source = '<input>', overrides: { name?: string } = {}): SweepSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError(`invalid sweep file ${source}: expected a mapping at the top level (got ${describeValue(raw)})`);
  }
  const withName = overrides.name ? { ...(raw as Record<string, unknown>), name: overrides.name } : raw;
  const parsed = sweepSchema.safeParse(withName);
  if (!parsed.success) throw new UsageError(zodMessage(parsed.error, withName, source));
  const f = parsed.data;
  const fail = (path: string, msg: string) => {
    throw new UsageError(`invalid sweep file ${source}:\n  ${path}: ${msg}`);
  };

  const family = f.model.family;
  const dataKind = f.data.kind ?? (family === 'mlp' ? 'teacher' : 'brown');
  if (family === 'mlp' && dataKind === 'brown') fail('data.kind', `"brown" needs model.family transformer (got mlp)`);
  if (family === 'transformer' && dataKind !== 'brown') fail('data.kind', `the transformer trains on "brown" text (got "${dataKind}")`);
  f.grid.size.forEach((size, i) => {
    if (family === 'transformer' && 'dModel' in size) {
      const heads = size.nHeads ?? f.model.nHeads;
      if (size.dModel % heads !== 0) {
        fail(`grid.size[${i}].nHeads`, `${heads} heads do not divide dModel ${size.dModel}`);
      }
      if ((size.dModel / heads) % 2 !== 0) {
        fail(`grid.size[${i}].nHeads`, `head width dModel/nHeads = ${size.dModel / heads} must be even (rotary pairs)`);
      }
    }
  });
  for (const [i, name] of f.measure.metrics.entries()) {
    try {
      parseMetric(name);
    } catch (err) {
      fail(`measure.metrics[${i}]`, `${(err as Error).message} (got ${JSON.stringify(name)})`);
    }
  }
  if (!f.measure.metrics.includes(f.measure.primary)) {
    fail('measure.primary', `must be one of measure.metrics ${JSON.stringify(f.measure.metrics)} (got ${JSON.stringify(f.measure.primary)})`);
  }
  for (const [axis, values] of Object.entries(f.grid)) {
    if (axis !== 'steps' && axis !== 'lr' && values.length === 0) fail(`grid.${axis}`, 'must list at least one value (the grid is empty)');
  }

  const { warmup, warmupSteps, ...optimRest } = f.optim;
  if (warmup !== undefined && warmupSteps !== undefined) {
    fail('optim.warmupSteps', `give the warmup as a fraction (warmup: ${warmup}) or in steps (warmupSteps: ${warmupSteps}), not both`);
  }
  const allSteps = f.grid.steps.length > 0 ? f.grid.steps : [f.training.steps];
  if (warmupSteps !== undefined && warmupSteps >= Math.min(...allSteps)) {
    fail('optim.warmupSteps', `must be shorter than every run (shortest: ${Math.min(...allSteps)} steps) (got ${warmupSteps})`);
  }
  // `warmupSteps` only appears when given: configurations without it keep their run keys.
  const optim = warmupSteps === undefined ? { ...optimRest, warmup: warmup ?? OPTIM_DEFAULTS.warmup } : { ...optimRest, warmup: 0, warmupSteps };
  // A ladder's trunk (the longest budget) must start before the runs that branch from it.
  const grid = ladderCandidate(f.ladder, optim.schedule, warmupSteps, f.grid.steps) ? { ...f.grid, steps: [...f.grid.steps].sort((a, b) => b - a) } : f.grid;

  const m = f.model;
  const spec: SweepSpec = {
    name: f.name,
    taskQueue: f.taskQueue,
    maxParallel: f.maxParallel,
    segmentSteps: f.segmentSteps,
    heartbeatTimeoutSeconds: f.heartbeatTimeout,
    continueAsNewEvery: f.continueAsNewEvery,
    ...(f.checkpointStore ? { checkpointStore: f.checkpointStore } : {}),
    ...(f.ladder ? {} : { ladder: false }),
    base: {
      model:
        family === 'mlp'
          ? {
              family: 'mlp',
              activation: f.grid.activation[0],
              topK: m.topK,
              dModel: 1,
              nLayers: 1,
              ffnMult: m.ffnMult,
              ffn: m.ffn,
              inputDim: m.inputDim,
              outputDim: m.outputDim,
            }
          : {
              family: 'transformer',
              activation: f.grid.activation[0],
              topK: m.topK,
              dModel: 1,
              nLayers: 1,
              nHeads: m.nHeads,
              ffnMult: m.ffnMult,
              ffn: m.ffn,
              positions: m.positions,
              tiedEmbeddings: m.tiedEmbeddings,
              seqLen: m.seqLen,
              vocabSize: m.vocabSize,
            },
      data: { kind: dataKind, valSize: f.data.valSize },
      optim,
      training: f.training,
      measure: f.measure,
    },
    grid,
  };
  const total = gridSize(spec);
  if (total > f.maxRuns) {
    fail('grid', `${total} runs exceed the cap maxRuns = ${f.maxRuns} (raise maxRuns to allow it)`);
  }
  // Valid field by field is not enough: refuse what Temporal cannot hold or what makes no sense together.
  const problems = infeasibilities(spec);
  if (problems.length > 0) {
    throw new UsageError(`invalid sweep file ${source}:\n  ${problems.map((p) => `${p.path}: ${p.message}`).join('\n  ')}`);
  }
  return spec;
}

export function parseSweepText(text: string, source: string, overrides: { name?: string } = {}): SweepSpec {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new UsageError(`malformed YAML in ${source}: ${e.message.split('\n')[0]}`);
  }
  return validateSweep(doc.toJS(), source, overrides);
}
