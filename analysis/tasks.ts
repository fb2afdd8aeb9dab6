/** The units of work that analysis/parallel.ts ships to worker threads (plain data in and out). */
import { bestOfStarts, subsetData, type ChinchillaData } from './chinchilla';
import { fitCurveCore } from './curve';
import type { CurveLawName } from './laws';
import { clusterResampleIndices, resampleIndices } from './stats';

export type WorkerTask =
  | { kind: 'curve-bootstrap'; law: CurveLawName; x: number[]; y: number[]; starts: number[][]; seed: number; from: number; to: number }
  | { kind: 'chinchilla-grid'; data: ChinchillaData; starts: number[][]; offset: number }
  | { kind: 'chinchilla-bootstrap'; data: ChinchillaData; starts: number[][]; seed: number; from: number; to: number; clusters?: number[] };

export type ChinchillaGridResult = { x: number[]; f: number; index: number; converged: boolean; iterations: number; message: string };

export function runTask(t: WorkerTask): unknown {
  switch (t.kind) {
    case 'curve-bootstrap': {
      const out: number[][] = [];
      const n = t.x.length;
      for (let b = t.from; b < t.to; b++) {
        const idx = resampleIndices(n, t.seed, b);
        const xs = Array.from(idx, (i) => t.x[i]);
        const ys = Array.from(idx, (i) => t.y[i]);
        // A resample with no more distinct x than parameters cannot pin the law down: count it as failed.
        if (new Set(xs).size <= t.starts[0].length) { out.push(t.starts[0].map(() => NaN)); continue; }
        const r = fitCurveCore(t.law, xs, ys, { extraStarts: t.starts, onlyExtraStarts: true });
        out.push(r.p);
      }
      return out;
    }
    case 'chinchilla-grid': {
      const r = bestOfStarts(t.data, t.starts);
      return { x: r.x, f: r.f, index: r.index < 0 ? -1 : r.index + t.offset, converged: r.converged, iterations: r.iterations, message: r.message } satisfies ChinchillaGridResult;
    }
    case 'chinchilla-bootstrap': {
      const out: number[][] = [];
      const n = t.data.lnL.length;
      const fullN = new Set(t.data.lnN).size, fullD = new Set(t.data.lnD).size;
      for (let b = t.from; b < t.to; b++) {
        const idx = t.clusters ? clusterResampleIndices(t.clusters, t.seed, b) : resampleIndices(n, t.seed, b);
        const sub = subsetData(t.data, idx);
        // A resample that cannot identify the five parameters (no more distinct points than 5, or
        // fewer distinct N or D than the design needs) counts as failed, not as a confident refit.
        const distinctPts = new Set(Array.from(idx, (i) => `${t.data.lnN[i]},${t.data.lnD[i]}`)).size;
        if (distinctPts <= 5 || new Set(sub.lnN).size < Math.min(3, fullN) || new Set(sub.lnD).size < Math.min(3, fullD)) { out.push([NaN, NaN, NaN, NaN, NaN]); continue; }
        const r = bestOfStarts(sub, t.starts);
        out.push(r.x);
      }
      return out;
    }
  }
}
