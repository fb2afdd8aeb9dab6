/** The units of work that analysis/parallel.ts ships to worker threads (plain data in and out). */
import { bestOfStarts, subsetData, type ChinchillaData } from './chinchilla';
import { fitCurveCore } from './curve';
import type { CurveLawName } from './laws';
import { clusterResampleIndices, resampleIndices } from './stats';

export type WorkerTask =
  | { kind: 'curve-bootstrap'; law: CurveLawName; x: number[]; y: number[]; starts: number[][]; seed: number; from: number; to: number }
  | { kind: 'chinchilla-grid'; data: ChinchillaData; starts: number[][]; offset: number }
  | { kind: 'chinchilla-bootstrap'; data: ChinchillaData; starts: number[][]; seed: number; from: number; to: number; clusters?: number[] };

export type CurveBootstrapResult = number[][];
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
      for (let b = t.from; b < t.to; b++) {
        const idx = t.clusters ? clusterResampleIndices(t.clusters, t.seed, b) : resampleIndices(n, t.seed, b);
        const r = bestOfStarts(subsetData(t.data, idx), t.starts);
        out.push(r.x);
      }
      return out;
    }
  }
}
