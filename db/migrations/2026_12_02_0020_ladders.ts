// Token-budget ladders (domain/ladder.ts): a trunk run's checkpoints at its branch points, kept
// apart from its one resumption checkpoint (which later steps supersede), and on each branched run
// the trunk and step it branched from.
// Never edit a migration once it has landed: add a new file.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('branch_checkpoints')
    .addColumn('trunk_run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('step', 'integer', (c) => c.notNull())
    // A pointer to the trunk's checkpoint blob at that step (stores/), shared with the trunk's own
    // `checkpoints` row while that still points to it: a blob is deleted only when no row of either table names it.
    .addColumn('uri', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('format_version', 'integer', (c) => c.notNull())
    .addColumn('backend', 'text', (c) => c.notNull())
    // Branches that have not yet taken this checkpoint; the last one deletes the row.
    .addColumn('remaining', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('branch_checkpoints_pk', ['trunk_run_id', 'step'])
    .execute();
  await db.schema
    .alterTable('runs')
    .addColumn('branch_of', 'text', (c) => c.references('runs.id').onDelete('set null'))
    .execute();
  await db.schema.alterTable('runs').addColumn('branch_step', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('runs').dropColumn('branch_step').execute();
  await db.schema.alterTable('runs').dropColumn('branch_of').execute();
  await db.schema.dropTable('branch_checkpoints').execute();
}
