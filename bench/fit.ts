/**
 * Benchmark: the Chinchilla fit on Epoch AI's data with Epoch's 4,500-start grid, ours
 * (analytic-gradient L-BFGS on worker threads) against scipy (L-BFGS-B with numerical
 * gradients, bench/fit_scipy.py), on the same machine in the same run.
 *
 *   npx tsx bench/fit.ts [--stride K] [--workers W] [--csv FILE] [--skip-scipy]
 *
 * --stride K uses every K-th grid point in both (quick runs); the default is the full grid.
 * The scipy side uses .sparsity/venv-bench (created with numpy + scipy on first use).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../stack/paths';
import { epochGrid } from '../analysis/chinchilla';
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
  const r = await fitPointsFromFile(csv, { law: 'chinchilla', dropHighest: 5, workers: opts.workers, starts: grid });
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

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (require.main === module) {
  const args = process.argv.slice(2);
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
