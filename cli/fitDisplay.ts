// How fits are printed (`sparsity fit`, `sparsity demo`): a fit that is not `ok` never looks like
// one: its parameters carry the status as a prefix and the reason follows on its own line.
import { JOURNEY_LAW } from '../analysis/sweepFits';

/** A fit row, from `storeFits` or from the `fits` table. */
export interface FitView {
  law: string;
  group: string;
  status: string;
  reason: string | null;
  params: Record<string, number>;
  /** Bootstrap percentile intervals (95%) per parameter, when the fit was bootstrapped. */
  ci?: Record<string, [number, number]>;
  mse: number | null;
  r2: number | null;
  aic?: number | null;
  heldoutError?: number | null;
  note?: string | null;
  n?: number;
}

const num = (v: number | null | undefined, digits = 4) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Number(v).toPrecision(digits));

/** Parameters as text: plain when ok, `<status>: ...` otherwise, `none` when nothing was fitted. */
export function paramsText(f: Pick<FitView, 'status' | 'params'>): string {
  const entries = Object.entries(f.params).filter(([, v]) => v !== null && Number.isFinite(Number(v)));
  const text = entries.map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`).join(' ');
  if (entries.length === 0) return f.status === 'ok' ? '' : `${f.status}: no parameters`;
  return f.status === 'ok' ? text : `${f.status}: ${text}`;
}

/** `alpha 1.376 [1.294, 2.643]` per parameter with a finite interval; `''` when there is none. */
export function intervalsText(f: Pick<FitView, 'params' | 'ci'>): string {
  const parts = Object.entries(f.ci ?? {})
    .filter(([k, iv]) => Number.isFinite(Number(f.params[k])) && Array.isArray(iv) && iv.every((x) => Number.isFinite(x)))
    .map(([k, [lo, hi]]) => `${k} [${Number(lo).toPrecision(3)}, ${Number(hi).toPrecision(3)}]`);
  return parts.join('  ');
}

/** One block per fit (journey-matters rows excluded: see journeyLines). */
export function fitLines(fits: readonly FitView[]): string[] {
  const out: string[] = [];
  for (const f of fits.filter((x) => x.law !== JOURNEY_LAW)) {
    out.push(`${f.law}  [${f.group}]  ${f.status.toUpperCase()}`);
    out.push(`    params: ${paramsText(f) || '(none)'}   mse=${num(f.mse)}  R²=${num(f.r2)}`);
    const intervals = intervalsText(f);
    if (intervals) out.push(`    95% bootstrap intervals: ${intervals}`);
    if (f.reason) out.push(`    why not ok: ${f.reason}`);
    if (f.note) out.push(`    data: ${f.note}`);
  }
  return out;
}

/** The Journey Matters comparisons: per group, the three definitions of N and the verdict. */
export function journeyLines(fits: readonly FitView[]): string[] {
  const rows = fits.filter((x) => x.law === JOURNEY_LAW);
  const groups = [...new Set(rows.map((r) => r.group.replace(/ \| [^|]*$/, '')))];
  const out: string[] = [];
  for (const g of groups) {
    const of = (suffix: string) => rows.find((r) => r.group === `${g} | ${suffix}`);
    const verdict = of('verdict');
    out.push(`The Journey Matters [${g}]: one Chinchilla law fitted to the final losses of ${verdict?.n ?? '?'} runs, three definitions of N`);
    out.push(`    ${'N'.padEnd(10)} ${'fit status'.padEnd(15)} ${'AIC'.padStart(10)}  held-out mean |ln L̂ − ln L| (leave one run out)`);
    for (const key of ['N=N̄', 'N=N_final', 'N=N_dense']) {
      const r = of(key);
      if (!r) continue;
      // N̄ is N + a combining macron: two code points, one column.
      out.push(`    ${key.padEnd(10 + (key.length - [...key.normalize('NFC')].filter((ch) => !/\p{M}/u.test(ch)).length))} ${r.status.padEnd(15)} ${num(r.aic, 5).padStart(10)}  ${num(r.heldoutError, 4)}`);
    }
    out.push(`    N̄ = average non-zero linear weights over training; N_final = non-zero linear weights at the end; N_dense = all linear weights`);
    if (verdict) out.push(`    verdict: ${verdict.note ?? verdict.reason ?? verdict.status}`);
  }
  return out;
}
