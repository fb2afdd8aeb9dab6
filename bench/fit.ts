/**
 * Benchmark: the Chinchilla fit on Epoch AI's data with Epoch's 4,500-start grid, ours
 * (analytic-gradient L-BFGS on worker threads) against scipy (L-BFGS-B with numerical
 * gradients, bench/fit_scipy.py), on the same machine in the same run.
 *
 *   npx tsx bench/fit.ts [--stride K] [--workers W] [--csv FILE] [--skip-scipy]
 *   npx tsx bench/fit.ts --bootstrap-check [--replicates 4000] [--workers W]
 *
 * --stride K uses every K-th grid point in both (quick runs); the default is the full grid.
 * The scipy side uses .sparsity/venv-bench (created with numpy + scipy on first use).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../stack/paths';
import { epochGrid, HOFFMANN_RAW } from '../analysis/chinchilla';
import { fitPointsFromFile } from '../analysis/dataFile';

export interface BenchFitOptions {
  /** Epoch's CSV (default: the copy in test/fixtures/chinchilla) */
  csv?: string;
  /** use every k-th start of the grid (default 1: all 4,500) */
  stride?: number;
  /** worker threads for our side (default: available cores) */
  workers?: number;
  /** python interpreter with numpy and scipy (default: .sparsity/venv-bench, created if absent) */
  python?: string;
  /** skip scipy (its figures are then NaN) */
  skipScipy?: boolean;
  /** progress lines to stderr */
  log?: (line: string) => void;
}

export interface BenchSide { seconds: number; objective: number; params?: Record<string, number> }
export interface BenchFitResult { ours: BenchSide; scipy: BenchSide; speedup: number; starts: number; n: number }

const ROOT = projectRoot();

function ensurePython(log: (s: string) => void): string {
  const venv = path.join(ROOT, '.sparsity', 'venv-bench');
  const py = path.join(venv, 'bin', 'python');
  if (fs.existsSync(py)) return py;
  log(`creating ${venv} (numpy, scipy)…`);
  execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(path.join(venv, 'bin', 'pip'), ['install', '-q', 'numpy', 'scipy'], { stdio: 'inherit' });
  return py;
}

export async function benchFit(opts: BenchFitOptions = {}): Promise<BenchFitResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const csv = opts.csv ?? path.join(ROOT, 'test', 'fixtures', 'chinchilla', 'epoch-svg-extracted.csv');
  const stride = Math.max(1, Math.floor(opts.stride ?? 1));
  const grid = epochGrid().filter((_, i) => i % stride === 0);

  log(`ours: ${grid.length} starts…`);
  // Our fit runs through the same file path the CLI uses (drop the 5 highest losses).
  const t0 = performance.now();
  const r = await fitPointsFromFile(csv, { law: 'chinchilla', dropHighest: 5, workers: opts.workers, starts: grid, bootstrap: 0 });
  const ours: BenchSide = { seconds: (performance.now() - t0) / 1000, objective: r.objective, params: r.params };
  log(`ours: ${ours.seconds.toFixed(2)} s, objective ${ours.objective.toExponential(6)}`);

  let scipy: BenchSide = { seconds: NaN, objective: NaN };
  if (!opts.skipScipy) {
    const py = opts.python ?? ensurePython(log);
    log(`scipy: ${grid.length} starts (this takes a while)…`);
    const p = spawnSync(py, [path.join(ROOT, 'bench', 'fit_scipy.py'), csv, '--stride', String(stride)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (p.status !== 0) throw new Error(`fit_scipy.py failed (${p.status}): ${p.stderr}`);
    const out = JSON.parse(p.stdout.trim().split('\n').pop() ?? '{}') as { seconds: number; objective: number; params: Record<string, number> };
    scipy = { seconds: out.seconds, objective: out.objective, params: out.params };
    log(`scipy: ${scipy.seconds.toFixed(2)} s, objective ${scipy.objective.toExponential(6)}`);
  }
  return { ours, scipy, speedup: scipy.seconds / ours.seconds, starts: grid.length, n: r.n };
}

/** Epoch's published 95% percentile intervals (data_analysis.ipynb: 4,000 resamples of the 240 points, BFGS from Hoffmann's fit). */
export const EPOCH_BOOTSTRAP_CI: Record<string, [number, number]> = {
  A: [285.214, 743.626], B: [1042.357, 5810.344], E: [1.769, 1.871], alpha: [0.317, 0.373], beta: [0.331, 0.415],
};
/** How near each end must be: absolute for E, α, β; relative for A and B. */
export const EPOCH_BOOTSTRAP_TOLERANCE: Record<string, { abs?: number; rel?: number }> = {
  E: { abs: 0.01 }, alpha: { abs: 0.01 }, beta: { abs: 0.01 }, A: { rel: 0.15 }, B: { rel: 0.15 },
};

export interface BootstrapCheckResult {
  replicates: number;
  succeeded: number;
  seconds: number;
  ci: Record<string, [number, number]>;
  epoch: Record<string, [number, number]>;
  /** per parameter: each end's distance from Epoch's (absolute for E, α, β; relative for A, B) and whether within tolerance */
  ends: Record<string, { lo: number; hi: number; within: boolean }>;
  pass: boolean;
}

/** Distance of each interval end from Epoch's, in the tolerance's terms. */
export function compareToEpoch(ci: Record<string, [number, number]>, tol = EPOCH_BOOTSTRAP_TOLERANCE): { ends: BootstrapCheckResult['ends']; pass: boolean } {
  const ends: BootstrapCheckResult['ends'] = {};
  for (const [k, [elo, ehi]] of Object.entries(EPOCH_BOOTSTRAP_CI)) {
    const t = tol[k];
    const d = (ours: number, theirs: number) => (t.rel !== undefined ? Math.abs(ours - theirs) / theirs : Math.abs(ours - theirs));
    const lim = t.rel ?? t.abs ?? 0;
    const lo = d(ci[k][0], elo), hi = d(ci[k][1], ehi);
    ends[k] = { lo, hi, within: lo <= lim && hi <= lim };
  }
  return { ends, pass: Object.values(ends).every((e) => e.within) };
}

/**
 * Epoch's bootstrap on Epoch's data: drop the 5 highest losses (240 points), fit from the grid,
 * then `replicates` resamples of the 240 points, each refitted by L-BFGS from Hoffmann et al.'s
 * published parameters; 95% percentile intervals compared with Epoch's.
 */
export async function benchBootstrapCheck(opts: { replicates?: number; workers?: number; csv?: string; stride?: number; tolerance?: typeof EPOCH_BOOTSTRAP_TOLERANCE } = {}): Promise<BootstrapCheckResult> {
  const csv = opts.csv ?? path.join(ROOT, 'test', 'fixtures', 'chinchilla', 'epoch-svg-extracted.csv');
  const replicates = opts.replicates ?? 4000;
  const stride = Math.max(1, Math.floor(opts.stride ?? 1));
  const t0 = performance.now();
  const r = await fitPointsFromFile(csv, {
    law: 'chinchilla', dropHighest: 5, workers: opts.workers, bootstrap: replicates,
    starts: [HOFFMANN_RAW, ...epochGrid().filter((_, i) => i % stride === 0)], bootstrapStarts: [HOFFMANN_RAW],
  });
  const ci = Object.fromEntries(Object.keys(EPOCH_BOOTSTRAP_CI).map((k) => [k, r.ci[k]]));
  const { ends, pass } = compareToEpoch(ci, opts.tolerance);
  return { replicates, succeeded: r.bootstrap?.succeeded ?? 0, seconds: (performance.now() - t0) / 1000, ci, epoch: EPOCH_BOOTSTRAP_CI, ends, pass };
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.includes('--bootstrap-check')) {
    const reps = argValue(args, '--replicates');
    const w = argValue(args, '--workers');
    benchBootstrapCheck({ replicates: reps ? Number(reps) : undefined, workers: w ? Number(w) : undefined, csv: argValue(args, '--csv') }).then(
      (r) => { process.stdout.write(JSON.stringify(r, null, 2) + '\n'); if (!r.pass) process.exitCode = 1; },
      (e: unknown) => { process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(1); },
    );
  } else {
  const stride = argValue(args, '--stride');
  const workers = argValue(args, '--workers');
  benchFit({
    stride: stride ? Number(stride) : undefined,
    workers: workers ? Number(workers) : undefined,
    csv: argValue(args, '--csv'),
    skipScipy: args.includes('--skip-scipy'),
  }).then(
    (r) => { process.stdout.write(JSON.stringify(r, null, 2) + '\n'); },
    (e: unknown) => { process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(1); },
  );
  }
}
