// Provenance (issues 12.6 and 13.3): which code (build) and which device trained each run and
// each segment of it. Adds `builds`, `run_segments`, `runs.build_id/device/mixed_builds`, and
// the new columns at the end of `run_overview` (Postgres allows appending columns to a view
// with CREATE OR REPLACE); `final_points` selects `o.*`, so it is recreated to carry them.
import { type Kysely, sql } from 'kysely';

const RUN_OVERVIEW_V1 = `
    select r.id as run_id, r.sweep_id, s.name as sweep_name, r.run_index, r.label, r.status,
           r.config->'model'->>'family' as family,
           r.config->'model'->>'activation' as activation,
           (r.config->'model'->>'dModel')::int as d_model,
           (r.config->'model'->>'nLayers')::int as n_layers,
           (r.config->'model'->>'dModel')::double precision / (r.config->'model'->>'nLayers')::double precision
             as width_depth_ratio,
           r.config->'pruning'->>'schedule' as pruning,
           (r.config->'pruning'->>'finalSparsity')::double precision as final_sparsity,
           (r.config->>'seed')::int as seed,
           (r.config->'training'->>'steps')::int as steps,
           r.total_params, r.non_embedding_params, r.linear_params, r.avg_nonzero_params,
           r.final_train_loss, r.final_val_loss, r.backend, r.worker, r.train_seconds, r.measure_seconds,
           r.started_at, r.finished_at`;

const FINAL_POINTS = `
    create view final_points as
    select distinct on (o.run_id) o.*, p.step as last_step, p.tokens, p.val_loss, p.activation_ratio,
           p.metric, p.dead_ratio, p.nonzero_params
    from run_overview o join run_points p on p.run_id = o.run_id
    order by o.run_id, p.step desc`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('builds')
    .addColumn('build_id', 'text', (c) => c.primaryKey())
    .addColumn('package_version', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('git_commit', 'text')
    .addColumn('git_dirty', 'boolean')
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('content_of', 'text', (c) => c.notNull())
    .addColumn('dependencies', 'jsonb', (c) => c.notNull())
    .addColumn('code', 'jsonb', (c) => c.notNull())
    .addColumn('first_seen', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .alterTable('runs')
    .addColumn('build_id', 'text')
    .addColumn('device', 'jsonb')
    .addColumn('mixed_builds', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();

  await db.schema
    .createTable('run_segments')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('from_step', 'integer', (c) => c.notNull())
    .addColumn('to_step', 'integer', (c) => c.notNull())
    .addColumn('reached_step', 'integer')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('worker', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer')
    .addColumn('build_id', 'text', (c) => c.notNull())
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('backend', 'text', (c) => c.notNull())
    .addColumn('device', 'jsonb', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('run_segments_run').on('run_segments').columns(['run_id', 'id']).execute();

  await sql`drop view if exists final_points`.execute(db);
  await sql
    .raw(
      `create or replace view run_overview as ${RUN_OVERVIEW_V1},
           r.build_id, r.mixed_builds,
           r.device->>'kind' as device_kind,
           coalesce(r.device->>'gpuName', r.device->>'cpuModel') as device_name,
           r.device->>'host' as host,
           r.device
    from runs r join sweeps s on s.id = r.sweep_id`,
    )
    .execute(db);
  await sql.raw(FINAL_POINTS).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Postgres cannot drop columns from a view: drop the dependents, recreate the view as before.
  await sql`drop view if exists final_points`.execute(db);
  await sql`drop view if exists activation_curves`.execute(db);
  await sql`drop view if exists run_overview`.execute(db);
  await sql.raw(`create view run_overview as ${RUN_OVERVIEW_V1} from runs r join sweeps s on s.id = r.sweep_id`).execute(db);
  await sql`
    create view activation_curves as
    select o.sweep_id, o.run_id, o.label, o.activation, o.d_model, o.n_layers, o.width_depth_ratio,
           o.pruning, o.seed, p.step, p.tokens, m.metric, m.activation_ratio, p.val_loss, p.train_loss,
           p.nonzero_params
    from metric_points m
    join run_points p on p.run_id = m.run_id and p.step = m.step
    join run_overview o on o.run_id = m.run_id`.execute(db);
  await sql.raw(FINAL_POINTS).execute(db);
  await db.schema.dropTable('run_segments').ifExists().execute();
  await db.schema.alterTable('runs').dropColumn('build_id').dropColumn('device').dropColumn('mixed_builds').execute();
  await db.schema.dropTable('builds').ifExists().execute();
}
