// The `fits` table's new columns (migration 2026_12_02_0040) on a real PostgreSQL: every fit
// stored with its status, reason, optimizer account and AIC; the Journey Matters comparison as
// four readable rows; the upsert keyed by (sweep, law, group); rows written before the migration
// kept as they were; `status` (client/sweeps.ts) reporting each fit's status and reason.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, Migrator } from 'kysely';
import { connect, migrateToLatest, type Db } from '../../db/connect';
import { migrations } from '../../db/migrations';
import { insertSweep } from '../../db/sweeps';
import { fitStatuses, listFits, storeFits } from '../../db/fits';
import { runAt, runIdOf, gridSize } from '../../domain/grid';
import { fitCurve } from '../../analysis/fit';
import { compareNDefinitions } from '../../analysis/journey';
import { epochGrid } from '../../analysis/chinchilla';
import { gaussian, rng } from '../../analysis/stats';
import type { SweepFits } from '../../analysis/sweepFits';
import { sweepStatus } from '../../client/sweeps';
import { createTestDatabase } from '../harness';
import { tinySweep } from '../sweeps';

describe('fits: statuses, reasons and the Journey Matters rows in PostgreSQL', { timeout: 300_000 }, () => {
  let db: Db;
  let drop: () => Promise<void>;
  const spec = tinySweep({ name: 'fitstore' });
  const sweepId = 'fitstore-1';

  before(async () => {
    const t = await createTestDatabase();
    drop = t.drop;
    db = connect(t.url, { max: 2 });
    // An old row, written before the migration that adds the new columns.
    const migrator = new Migrator({ db: db as unknown as Kysely<unknown>, provider: { getMigrations: async () => migrations } });
    const first = await migrator.migrateTo('2026_11_28_0001_initial');
    assert.equal(first.error, undefined);
    await insertSweep(db, { id: sweepId, spec, workflowId: `sweep-${sweepId}`, total: gridSize(spec) }, (i) => ({ ...runAt(spec, i), id: runIdOf(sweepId, i) }));
    await (db as unknown as Kysely<Record<string, Record<string, unknown>>>)
      .insertInto('fits')
      .values({ sweep_id: sweepId, law: 'silu-power', group_key: 'activation=silu dModel=16 nLayers=2 pruning=dense', params: '{"alpha":0.5,"c":0.1,"A0":1}', ci: '{}', flags: '{}', n: 12, status: 'ok', message: null })
      .execute();
    await migrateToLatest(db);
  });

  after(async () => {
    await db?.destroy();
    await drop?.();
  });

  it('keeps rows written before the migration, with their status and null new columns', async () => {
    const old = (await listFits(db, sweepId)).find((f) => f.group_key.startsWith('activation=silu'));
    assert.ok(old);
    assert.equal(old.status, 'ok');
    assert.equal(old.reason, null);
    assert.equal(old.converged, null);
  });

  it('stores status, reason, optimizer account, AIC and the Journey Matters rows; re-storing updates in place', async () => {
    const u = rng(2);
    const x = Array.from({ length: 20 }, (_, i) => 1 + i);
    const degenerate = await fitCurve('relu-logspace', x, x.map(() => 0.1 + 1e-4 * gaussian(u)), { workers: 1 });
    assert.equal(degenerate.status, 'degenerate');
    const runs = [1e5, 2e5, 4e5, 8e5, 1.6e6, 3.2e6].map((dense, i) => ({ id: `r${i}`, label: `r${i}`, pruned: i % 2 === 1, avgNonzero: dense * (i % 2 ? 0.7 : 1), finalNonzero: dense * (i % 2 ? 0.5 : 1), dense, tokens: 1e8, loss: 2 + 300 / dense ** 0.4 }));
    const comparison = await compareNDefinitions(runs, { starts: epochGrid().filter((_, i) => i % 100 === 0), workers: 1 });
    const set: SweepFits = {
      fits: [{ law: 'relu-logspace', groupKey: 'relu dense', runIds: ['a'], xScale: 1, result: degenerate, note: 'x = tokens × 1' }],
      journeys: [{ groupKey: 'relu', runs, comparison }],
      skipped: [],
    };
    const stored = await storeFits(db, sweepId, set);
    assert.equal(stored.length, 5);
    await storeFits(db, sweepId, set); // upsert: no duplicates
    const rows = (await listFits(db, sweepId)).filter((f) => !f.group_key.startsWith('activation='));
    assert.equal(rows.length, 5);
    const curve = rows.find((r) => r.law === 'relu-logspace');
    assert.ok(curve);
    assert.equal(curve.status, 'degenerate');
    assert.equal(curve.reason, degenerate.reason);
    assert.equal(curve.converged, degenerate.converged);
    assert.equal(curve.iterations, degenerate.iterations);
    assert.equal(curve.optimizer_message, degenerate.message);
    assert.ok(Math.abs((curve.aic as number) - degenerate.aic) < 1e-9 * Math.abs(degenerate.aic));
    assert.equal(curve.heldout_error, null);
    assert.equal(curve.message, 'x = tokens × 1');

    const journey = rows.filter((r) => r.law === 'journey-matters').map((r) => r.group_key).sort();
    assert.deepEqual(journey, ['relu | N=N_dense', 'relu | N=N_final', 'relu | N=N̄', 'relu | verdict'].sort());
    const verdict = rows.find((r) => r.group_key === 'relu | verdict');
    assert.equal(verdict?.status, 'failed');
    assert.match(verdict?.reason ?? '', /6 runs: a comparison needs at least 7/);
    assert.match(verdict?.message ?? '', /no winner named/);
    const nbar = rows.find((r) => r.group_key === 'relu | N=N̄');
    assert.ok(Number.isFinite(nbar?.aic), 'AIC stored for each definition of N');
    assert.equal(nbar?.n, 6);

    // `status --json` reads the same: law, group, status, reason.
    const statuses = await fitStatuses(db, sweepId);
    assert.deepEqual(statuses.find((s) => s.law === 'relu-logspace'), { law: 'relu-logspace', group: 'relu dense', status: 'degenerate', reason: degenerate.reason });
    const report = await sweepStatus(db, undefined, sweepId);
    assert.equal(report.fits.length, 6);
    assert.ok(report.fits.every((f) => ['ok', 'not-identified', 'degenerate', 'failed'].includes(f.status)));
  });
});
