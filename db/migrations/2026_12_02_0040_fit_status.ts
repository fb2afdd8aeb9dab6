// What every fit is (issue 11): the optimizer's own account, information criteria and the Journey
// Matters comparison's held-out error. `status` already exists (text); its values are now
// ok | not-identified | degenerate | failed, and older rows' `ok` stays valid. Never edit once landed.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('fits')
    .addColumn('reason', 'text')
    .addColumn('converged', 'boolean')
    .addColumn('iterations', 'integer')
    .addColumn('optimizer_message', 'text')
    .addColumn('aic', 'double precision')
    .addColumn('heldout_error', 'double precision')
    .execute();
  await sql`comment on column fits.reason is 'why status is not ok, in words; null when ok'`.execute(db);
  await sql`comment on column fits.heldout_error is 'journey-matters rows: mean |ln L_pred - ln L| over runs, each run predicted by the law fitted to the others'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('fits')
    .dropColumn('reason')
    .dropColumn('converged')
    .dropColumn('iterations')
    .dropColumn('optimizer_message')
    .dropColumn('aic')
    .dropColumn('heldout_error')
    .execute();
}
