// What `sparsity report`, `sparsity study` and `bench gpu --study` leave in a folder, on a real
// PostgreSQL: the report, fits.json (the stored fits) and points.csv (every eval point of every
// run, cancelled ones included); a sweep without completed runs refused before anything is written.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, migrateToLatest, type Db } from '../../db/connect';
import { insertSweep } from '../../db/sweeps';
import { commitEvalPoint } from '../../db/points';
import { markRunFinished, markRunStarted, recordModel } from '../../db/runs';
import { gridSize, runAt, runIdOf } from '../../domain/grid';
import { UsageError } from '../../domain/errors';
import { POINT_COLUMNS, writeSweepOutputs } from '../../client/sweepOutputs';
import { createTestDatabase } from '../harness';
import { tinySweep } from '../sweeps';

describe('sweep outputs: report, fits.json, points.csv', { timeout: 600_000 }, () => {
  let db: Db;
  let drop: () => Promise<void>;
  let out: string;
  const spec = tinySweep({ name: 'outputs' });
  const metrics = ['exact', 'ppl-1%'];
  const steps = [10, 20, 30, 40];

  async function fillSweep(sweepId: string, finish: (index: number) => 'completed' | 'cancelled' | null): Promise<void> {
    await insertSweep(db, { id: sweepId, spec, workflowId: `sweep-${sweepId}`, total: gridSize(spec) }, (i) => ({ ...runAt(spec, i), id: runIdOf(sweepId, i) }));
    for (let i = 0; i < gridSize(spec); i++) {
      const runId = runIdOf(sweepId, i);
      await recordModel(db, runId, { backend: 'cpu', worker: 'test', totalParams: 1000, nonEmbeddingParams: 1000, linearParams: 900, codeVersion: 'test' });
      await markRunStarted(db, runId);
      const relu = runAt(spec, i).config.model.activation === 'relu';
      for (const step of steps) {
        const ratio = relu ? 0.1 + 0.3 * Math.exp(-step / 15) : 0.4 - 0.2 * (step / 10) ** -0.7;
        await commitEvalPoint(db, {
          runId, step, tokens: step * 16, trainLoss: 2 - step / 100, valLoss: 2.1 - step / 100 + i / 1000, lr: 0.01,
          primary: { metric: 'ppl-1%', activationRatio: ratio }, deadRatio: 0, nonzeroParams: 900, avgNonzeroParams: 900,
          metrics: metrics.map((metric) => ({ metric, activationRatio: metric === 'exact' ? (relu ? 0.5 : 1) : ratio })),
          layers: [], trainSeconds: 1, measureSeconds: 0.1, worker: 'test',
          checkpoint: { uri: `file:///nowhere/${runId}/${step}`, sha256: '0'.repeat(64), bytes: 1, formatVersion: 2, backend: 'cpu' },
        });
      }
      const status = finish(i);
      if (status) await markRunFinished(db, runId, status, status === 'cancelled' ? 'cancelled' : null);
    }
  }

  before(async () => {
    const t = await createTestDatabase();
    drop = t.drop;
    db = connect(t.url, { max: 2 });
    await migrateToLatest(db);
    out = mkdtempSync(path.join(os.tmpdir(), 'sweep-outputs-'));
    await fillSweep('outputs-1', (i) => (i === gridSize(spec) - 1 ? 'cancelled' : 'completed'));
    await fillSweep('outputs-2', () => null);
  });

  after(async () => {
    await db?.destroy();
    await drop?.();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('writes the report, the stored fits and every point of every run', async () => {
    const dir = path.join(out, 'one');
    const r = await writeSweepOutputs(db, 'outputs-1', dir, { workers: 1 });
    assert.equal(r.completedRuns, gridSize(spec) - 1);
    assert.ok(existsSync(path.join(dir, 'index.html')));
    assert.ok(r.files.includes('index.html') && r.files.includes('fits.json') && r.files.includes('points.csv'));
    const fits = JSON.parse(readFileSync(path.join(dir, 'fits.json'), 'utf8')) as { law: string; status: string }[];
    assert.equal(fits.length, r.fits);
    assert.ok(fits.some((f) => f.law === 'relu-logspace') && fits.some((f) => f.law === 'silu-power'));
    assert.ok(fits.every((f) => ['ok', 'not-identified', 'degenerate', 'failed'].includes(f.status)));
    const lines = readFileSync(path.join(dir, 'points.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], POINT_COLUMNS.join(','));
    // One row per (run, step, metric), the cancelled run's too.
    assert.equal(lines.length - 1, gridSize(spec) * steps.length * metrics.length);
    assert.equal(r.points, lines.length - 1);
    const status = POINT_COLUMNS.indexOf('status');
    assert.equal(lines.slice(1).filter((l) => l.split(',')[status] === 'cancelled').length, steps.length * metrics.length);
  });

  it('refuses a sweep with no completed run when a report is required, writing nothing', async () => {
    const dir = path.join(out, 'none');
    await assert.rejects(writeSweepOutputs(db, 'outputs-2', dir, { requireRuns: true }), (e: Error) => e instanceof UsageError && /outputs-2 has no completed runs to report/.test(e.message));
    assert.equal(existsSync(dir), false);
    // Without requireRuns (a study's cancelled sweep): its points and an empty fits.json, no report.
    // A report an earlier sweep left in the folder is replaced by a page saying why there is none.
    mkdirSync(dir, { recursive: true });
    for (const f of ['report.json', 'activation-vs-tokens.png', 'notes.txt']) writeFileSync(path.join(dir, f), 'old');
    const r = await writeSweepOutputs(db, 'outputs-2', dir);
    assert.equal(r.completedRuns, 0);
    assert.match(r.note ?? '', /no completed runs/);
    assert.match(readFileSync(path.join(dir, 'index.html'), 'utf8'), /has no completed runs, so there is no report: 16 eval points of 4 runs \(4 running\)/);
    assert.equal(existsSync(path.join(dir, 'report.json')), false);
    assert.equal(existsSync(path.join(dir, 'activation-vs-tokens.png')), false);
    assert.ok(existsSync(path.join(dir, 'notes.txt')), 'files the report does not write are left alone');
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'fits.json'), 'utf8')), []);
  });
});
