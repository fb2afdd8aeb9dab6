// A sweep's later life: runs reused from another sweep, the code version that trained a run
// (what reuse compares), and how many workflow executions a sweep has had (submit, retries,
// extensions). Never edit a migration once it has landed: add a new file.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('runs')
    // The run whose stored results this run copied (the original, never a copy); null: trained here.
    // No foreign key: deleting the source sweep must not change what this sweep says it holds.
    .addColumn('reused_from', 'text')
    // `<package version>+<code fingerprint>` of the worker that trained the run (engine/codeVersion.ts).
    .addColumn('code_version', 'text')
    .execute();
  await db.schema
    .alterTable('sweeps')
    .addColumn('executions', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  // Reuse looks runs up by key among completed ones.
  await sql`create index runs_reusable on runs (run_key, code_version) where status = 'completed'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists runs_reusable`.execute(db);
  await db.schema.alterTable('sweeps').dropColumn('executions').execute();
  await db.schema.alterTable('runs').dropColumn('code_version').dropColumn('reused_from').execute();
}
