// Initial schema. Never edit a migration once it has landed: add a new file.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sweeps')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('spec', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('task_queue', 'text', (c) => c.notNull())
    .addColumn('total_runs', 'integer', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('sweep_id', 'text', (c) => c.notNull().references('sweeps.id').onDelete('cascade'))
    .addColumn('run_index', 'integer', (c) => c.notNull())
    .addColumn('run_key', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('config', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('backend', 'text')
    .addColumn('worker', 'text')
    .addColumn('total_params', 'bigint')
    .addColumn('non_embedding_params', 'bigint')
    .addColumn('linear_params', 'bigint')
    .addColumn('avg_nonzero_params', 'double precision')
    .addColumn('steps_total', 'integer', (c) => c.notNull())
    .addColumn('steps_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('final_train_loss', 'double precision')
    .addColumn('final_val_loss', 'double precision')
    .addColumn('train_seconds', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('measure_seconds', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('runs_sweep_index', ['sweep_id', 'run_index'])
    .execute();
  await db.schema.createIndex('runs_run_key').on('runs').column('run_key').execute();
  await db.schema.createIndex('runs_sweep_status').on('runs').columns(['sweep_id', 'status']).execute();

  await db.schema
    .createTable('run_points')
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('tokens', 'bigint', (c) => c.notNull())
    .addColumn('train_loss', 'double precision', (c) => c.notNull())
    .addColumn('val_loss', 'double precision', (c) => c.notNull())
    .addColumn('activation_ratio', 'double precision')
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('dead_ratio', 'double precision')
    .addColumn('nonzero_params', 'bigint', (c) => c.notNull())
    .addColumn('lr', 'double precision', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('run_points_pk', ['run_id', 'step'])
    .execute();

  await db.schema
    .createTable('metric_points')
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('activation_ratio', 'double precision', (c) => c.notNull())
    .addColumn('detail', 'jsonb')
    .addPrimaryKeyConstraint('metric_points_pk', ['run_id', 'step', 'metric'])
    .execute();

  await db.schema
    .createTable('layer_points')
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('layer', 'integer', (c) => c.notNull())
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('activation_ratio', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('layer_points_pk', ['run_id', 'step', 'layer', 'metric'])
    .execute();

  // One row per run: the latest committed checkpoint, written in the same
  // transaction as the points of its step, so points and checkpoint never disagree.
  await db.schema
    .createTable('checkpoints')
    .addColumn('run_id', 'text', (c) => c.primaryKey().references('runs.id').onDelete('cascade'))
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('data', 'bytea', (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('backend', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('fits')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('sweep_id', 'text', (c) => c.notNull().references('sweeps.id').onDelete('cascade'))
    .addColumn('law', 'text', (c) => c.notNull())
    .addColumn('group_key', 'text', (c) => c.notNull())
    .addColumn('params', 'jsonb', (c) => c.notNull())
    .addColumn('ci', 'jsonb', (c) => c.notNull())
    .addColumn('flags', 'jsonb', (c) => c.notNull())
    .addColumn('mae', 'double precision')
    .addColumn('mse', 'double precision')
    .addColumn('r2', 'double precision')
    .addColumn('n', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('fits_sweep_law_group', ['sweep_id', 'law', 'group_key'])
    .execute();

  // The questions researchers ask most, as views over the tables above.
  await sql`
    create view run_overview as
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
           r.started_at, r.finished_at
    from runs r join sweeps s on s.id = r.sweep_id`.execute(db);

  await sql`
    create view activation_curves as
    select o.sweep_id, o.run_id, o.label, o.activation, o.d_model, o.n_layers, o.width_depth_ratio,
           o.pruning, o.seed, p.step, p.tokens, m.metric, m.activation_ratio, p.val_loss, p.train_loss,
           p.nonzero_params
    from metric_points m
    join run_points p on p.run_id = m.run_id and p.step = m.step
    join run_overview o on o.run_id = m.run_id`.execute(db);

  await sql`
    create view final_points as
    select distinct on (o.run_id) o.*, p.step as last_step, p.tokens, p.val_loss, p.activation_ratio,
           p.metric, p.dead_ratio, p.nonzero_params
    from run_overview o join run_points p on p.run_id = o.run_id
    order by o.run_id, p.step desc`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop view if exists final_points`.execute(db);
  await sql`drop view if exists activation_curves`.execute(db);
  await sql`drop view if exists run_overview`.execute(db);
  for (const t of ['fits', 'checkpoints', 'layer_points', 'metric_points', 'run_points', 'runs', 'sweeps']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
