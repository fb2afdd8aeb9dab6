// Every query about fits: the stored runs a fit reads (as analysis/sweepFits.ts's SweepData) and
// the `fits` rows it writes.
import { JOURNEY_LAW, journeyRowKey, journeyVerdictText, type SweepData, type SweepFits } from '../analysis/sweepFits';
import type { FitResult } from '../analysis/fit';
import type { Db } from './connect';
import { sql } from 'kysely';

/** One row of `fits`, as returned to callers (the `sparsity fit` output, the activity's result). */
export interface StoredFit {
  law: string;
  groupKey: string;
  params: Record<string, number>;
  ci: Record<string, [number, number]>;
  flags: Record<string, string>;
  mae: number | null;
  mse: number | null;
  r2: number | null;
  n: number;
  /** ok | not-identified | degenerate | failed: only `ok` params are known values */
  status: string;
  /** why status is not ok; null when ok */
  reason: string | null;
  converged: boolean | null;
  iterations: number | null;
  optimizerMessage: string | null;
  aic: number | null;
  /** journey-matters rows: mean |ln L̂ − ln L| over runs, each predicted by the fit to the others */
  heldoutError: number | null;
  note?: string;
}

const finite = (v: number) => (Number.isFinite(v) ? v : null);

export async function loadSweepData(db: Db, sweepId: string): Promise<SweepData> {
  const sweep = await db.selectFrom('sweeps').select('spec').where('id', '=', sweepId).executeTakeFirstOrThrow();
  const runs = await db
    .selectFrom('run_overview')
    .selectAll()
    .where('sweep_id', '=', sweepId)
    .where('status', '=', 'completed')
    .orderBy('run_index')
    .execute();
  // A subquery, not a list of ids: a sweep may hold more runs than a statement may bind.
  const completed = db.selectFrom('runs').select('id').where('sweep_id', '=', sweepId).where('status', '=', 'completed');
  const configs = new Map(
    (await db.selectFrom('runs').select(['id', 'config']).where('sweep_id', '=', sweepId).where('status', '=', 'completed').execute()).map((r) => [r.id, r.config]),
  );
  const points = await db.selectFrom('run_points').selectAll().where('run_id', 'in', completed).orderBy('run_id').orderBy('step').execute();
  const metric = sweep.spec.base.measure.primary;
  const layerPoints = await db
    .selectFrom('layer_points')
    .select(['run_id', 'step', 'layer', 'activation_ratio'])
    .where('run_id', 'in', completed)
    .where('metric', '=', metric)
    .orderBy('run_id')
    .orderBy('step')
    .orderBy('layer')
    .execute();
  return {
    sweepId,
    metric,
    runs: runs.map((r) => ({
      id: r.run_id,
      label: r.label,
      activation: r.activation,
      dModel: r.d_model,
      nLayers: r.n_layers,
      pruning: r.pruning === 'none' ? 'dense' : `${r.pruning}${Math.round(r.final_sparsity * 100)}`,
      seed: r.seed,
      linearParams: r.linear_params ?? 0,
      avgNonzeroParams: r.avg_nonzero_params ?? r.linear_params ?? 0,
      finalSparsity: r.pruning === 'none' ? 0 : r.final_sparsity,
      config: configs.get(r.run_id),
    })),
    points: points.map((p) => ({ runId: p.run_id, step: p.step, tokens: p.tokens, activationRatio: p.activation_ratio, valLoss: p.val_loss, nonzeroParams: p.nonzero_params })),
    layerPoints: layerPoints.map((l) => ({ runId: l.run_id, step: l.step, layer: l.layer, activationRatio: l.activation_ratio })),
  };
}

function storedOf(law: string, groupKey: string, r: FitResult, extra: { aic?: number; heldoutError?: number; note?: string }): StoredFit {
  return {
    law, groupKey, params: r.params, ci: r.ci, flags: r.flags, mae: finite(r.mae), mse: finite(r.mse), r2: finite(r.r2), n: r.n,
    status: r.status, reason: r.reason, converged: r.converged, iterations: r.iterations, optimizerMessage: r.message,
    aic: finite(extra.aic ?? r.aic), heldoutError: extra.heldoutError === undefined ? null : finite(extra.heldoutError), note: extra.note,
  };
}

/**
 * The rows a fitting writes: one per fit, and per Journey Matters comparison four rows of law
 * `journey-matters`: `<group> | N=N̄`, `<group> | N=N_final`, `<group> | N=N_dense` (the Chinchilla
 * fit under that N, with its AIC and held-out error) and `<group> | verdict` (status: ok when a
 * winner is named, else why not in `reason`; `message`: what the comparison found; params empty).
 */
export function fitRows(set: SweepFits): StoredFit[] {
  const rows = set.fits.map((f) => storedOf(f.law, f.groupKey, f.result, { note: f.note }));
  for (const j of set.journeys) {
    const c = j.comparison;
    for (const v of c.variants) {
      rows.push(storedOf(JOURNEY_LAW, journeyRowKey(j.groupKey, v.n), v.fit, {
        aic: v.aic, heldoutError: v.heldOutLogError,
        note: `chinchilla fitted to the final validation loss of ${c.runs} runs (dense and pruned) with N = ${v.label}; D = tokens; AIC with k = ${v.k}`,
      }));
    }
    rows.push({
      law: JOURNEY_LAW, groupKey: journeyRowKey(j.groupKey, 'verdict'), params: {}, ci: {}, flags: {}, mae: null, mse: null, r2: null, n: c.runs,
      status: c.status, reason: c.reason, converged: null, iterations: null, optimizerMessage: null, aic: null, heldoutError: null,
      note: `${journeyVerdictText(c)}${c.note && c.status === 'ok' ? '' : c.note ? `; ${c.note}` : ''}`,
    });
  }
  return rows;
}

export async function storeFits(db: Db, sweepId: string, set: SweepFits): Promise<StoredFit[]> {
  const stored = fitRows(set);
  await db.transaction().execute(async (tx) => {
    for (const f of stored) {
      const values = {
        sweep_id: sweepId,
        law: f.law,
        group_key: f.groupKey,
        params: JSON.stringify(f.params),
        ci: JSON.stringify(f.ci),
        flags: JSON.stringify(f.flags),
        mae: f.mae,
        mse: f.mse,
        r2: f.r2,
        n: f.n,
        status: f.status,
        message: f.note ?? null,
        reason: f.reason,
        converged: f.converged,
        iterations: f.iterations,
        optimizer_message: f.optimizerMessage,
        aic: f.aic,
        heldout_error: f.heldoutError,
      };
      const { sweep_id: _s, law: _l, group_key: _g, ...update } = values;
      await tx
        .insertInto('fits')
        .values(values)
        .onConflict((oc) => oc.columns(['sweep_id', 'law', 'group_key']).doUpdateSet({ ...update, created_at: sql`now()` }))
        .execute();
    }
  });
  return stored;
}

/** The stored fits of a sweep, by law then group. */
export async function listFits(db: Db, sweepId: string) {
  return db.selectFrom('fits').selectAll().where('sweep_id', '=', sweepId).orderBy('law').orderBy('group_key').execute();
}

/** What `status --json` shows of a sweep's fits: law, group, status and why it is not ok. */
export interface FitStatusRow { law: string; group: string; status: string; reason: string | null }

export async function fitStatuses(db: Db, sweepId: string): Promise<FitStatusRow[]> {
  const rows = await db.selectFrom('fits').select(['law', 'group_key', 'status', 'reason']).where('sweep_id', '=', sweepId).orderBy('law').orderBy('group_key').execute();
  return rows.map((r) => ({ law: r.law, group: r.group_key, status: r.status, reason: r.reason }));
}
