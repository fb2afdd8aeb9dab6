// Every query about fits: the stored runs a fit reads (as analysis/sweepFits.ts's SweepData) and
// the `fits` rows it writes.
import type { SweepData, SweepFit } from '../analysis/sweepFits';
import type { Db } from './connect';

export interface StoredFit {
  law: string;
  groupKey: string;
  params: Record<string, number>;
  ci: Record<string, [number, number]>;
  flags: Record<string, string>;
  mse: number | null;
  r2: number | null;
  n: number;
  status: string;
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
    })),
    points: points.map((p) => ({ runId: p.run_id, step: p.step, tokens: p.tokens, activationRatio: p.activation_ratio, valLoss: p.val_loss })),
    layerPoints: layerPoints.map((l) => ({ runId: l.run_id, step: l.step, layer: l.layer, activationRatio: l.activation_ratio })),
  };
}

export async function storeFits(db: Db, sweepId: string, fits: SweepFit[]): Promise<StoredFit[]> {
  const stored: StoredFit[] = fits.map((f) => ({
    law: f.law,
    groupKey: f.groupKey,
    params: f.result.params,
    ci: f.result.ci,
    flags: f.result.flags,
    mse: finite(f.result.mse),
    r2: finite(f.result.r2),
    n: f.result.n,
    status: f.result.status,
    note: f.note,
  }));
  await db.transaction().execute(async (tx) => {
    for (const f of stored) {
      const values = {
        sweep_id: sweepId,
        law: f.law,
        group_key: f.groupKey,
        params: JSON.stringify(f.params),
        ci: JSON.stringify(f.ci),
        flags: JSON.stringify(f.flags),
        mae: finite(fits.find((x) => x.law === f.law && x.groupKey === f.groupKey)?.result.mae ?? NaN),
        mse: f.mse,
        r2: f.r2,
        n: f.n,
        status: f.status,
        message: f.note ?? null,
      };
      await tx
        .insertInto('fits')
        .values(values)
        .onConflict((oc) =>
          oc.columns(['sweep_id', 'law', 'group_key']).doUpdateSet({
            params: values.params,
            ci: values.ci,
            flags: values.flags,
            mae: values.mae,
            mse: values.mse,
            r2: values.r2,
            n: values.n,
            status: values.status,
            message: values.message,
          }),
        )
        .execute();
    }
  });
  return stored;
}

/** The stored fits of a sweep, by law then group. */
export async function listFits(db: Db, sweepId: string) {
  return db.selectFrom('fits').selectAll().where('sweep_id', '=', sweepId).orderBy('law').orderBy('group_key').execute();
}
