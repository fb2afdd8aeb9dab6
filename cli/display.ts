// Human-readable output: tables and the live progress display (stderr).
import cliProgress from 'cli-progress';
import type { RunDetail, SweepStatusReport } from '../client/sweeps';
import { deviceLabel } from '../engine/deviceInfo';

const fmt = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
};

export function printTable(rows: Record<string, unknown>[], write: (s: string) => void): void {
  if (rows.length === 0) {
    write('(no rows)');
    return;
  }
  const cols = Object.keys(rows[0]);
  const cells = rows.map((r) => cols.map((c) => fmt(r[c])));
  const widths = cols.map((c, i) => Math.min(48, Math.max(c.length, ...cells.map((row) => row[i].length))));
  const line = (vals: string[]) => vals.map((v, i) => v.slice(0, widths[i]).padEnd(widths[i])).join('  ').trimEnd();
  write(line(cols));
  write(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) write(line(row));
  write(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
}

export function printRuns(runs: RunDetail[], write: (s: string) => void): void {
  const anyReused = runs.some((r) => r.reusedFrom !== null);
  printTable(
    runs.map((r) => ({
      run: r.runId,
      label: r.label,
      status: r.status,
      step: `${r.step}/${r.steps}`,
      branch: r.branchOf ? `${r.branchOf.slice(r.branchOf.lastIndexOf('.') + 1)}@${r.branchStep}` : null,
      val_loss: r.valLoss,
      activation_ratio: r.activationRatio,
      backend: r.backend,
      // A reused run was not trained in this sweep: its results are a copy of this run's.
      ...(anyReused ? { reused_from: r.reusedFrom } : {}),
      device: deviceLabel(r.device),
      host: r.device?.host ?? null,
      build: r.buildId === null ? null : `${r.buildId}${r.mixedBuilds ? ' (MIXED builds)' : ''}`,
      error: r.error,
    })),
    write,
  );
}

export function printStatus(s: SweepStatusReport, write: (s: string) => void): void {
  const c = s.runs;
  write(`${s.sweepId}  ${s.status}${s.message ? `  (${s.message})` : ''}`);
  const reused = s.reused > 0 ? ` (${s.reused} reused from earlier sweeps, not trained here)` : '';
  write(`runs: ${c.total} total, ${c.completed} completed${reused}, ${c.running} running, ${c.pending} pending, ${c.failed} failed, ${c.cancelled} cancelled`);
  write(computeLine(s.compute));
  printRuns(s.runsDetail, write);
}

/** Steps trained so far, and what token-budget ladders saved against training every run from scratch. */
export function computeLine(c: SweepStatusReport['compute']): string {
  // Reused runs were trained by earlier sweeps: counting them here would count that compute twice.
  const reused = c.stepsReused > 0 ? `; ${c.stepsReused} steps in reused runs, trained by earlier sweeps` : '';
  if (c.branchedRuns === 0) return `compute: ${c.stepsTrained} steps trained here${reused}`;
  const saved = c.stepsFromScratch - c.stepsTrained;
  const pct = c.stepsFromScratch > 0 ? ` (${((100 * saved) / c.stepsFromScratch).toFixed(0)}% saved)` : '';
  return `compute: ${c.stepsTrained} steps trained here of ${c.stepsFromScratch} from scratch${pct}; ${c.branchedRuns} runs branched from a trunk${reused}`;
}

/** Live bars on stderr: the sweep as a whole, then each active run. */
export class StatusDisplay {
  private readonly bars = new cliProgress.MultiBar(
    {
      format: ' {bar} {percentage}% | {name} | {info}',
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
      noTTYOutput: false,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  private total?: cliProgress.SingleBar;
  private readonly runBars = new Map<string, cliProgress.SingleBar>();
  private lastLine = '';

  update(s: SweepStatusReport): void {
    const c = s.runs;
    const info = `${c.completed}/${c.total} done, ${c.running} running, ${c.failed} failed, ${c.cancelled} cancelled`;
    if (!process.stderr.isTTY) {
      // Logs and CI: one line when something changed, not a redraw.
      if (info !== this.lastLine) process.stderr.write(`${s.sweepId}: ${info}\n`);
      this.lastLine = info;
      return;
    }
    this.total ??= this.bars.create(c.total, 0, { name: s.sweepId, info });
    this.total.update(c.completed + c.failed + c.cancelled, { info });
    for (const r of s.runsDetail) {
      if (r.status === 'pending') continue;
      let bar = this.runBars.get(r.runId);
      if (!bar) {
        if (r.status !== 'running' || this.runBars.size >= 12) continue;
        bar = this.bars.create(100, 0, { name: r.label, info: '' });
        this.runBars.set(r.runId, bar);
      }
      bar.update(Math.round(r.progress * 100), {
        info: `${r.status} step ${r.step}/${r.steps}${r.valLoss !== null ? ` val ${r.valLoss.toFixed(3)}` : ''}`,
      });
    }
  }

  stop(): void {
    this.bars.stop();
  }
}
