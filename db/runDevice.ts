// Where each run of a sweep trained, for `bench gpu`'s check: runs.device (issue 13 part 3) when
// this database has that column, else null per run (runs.backend still says which backend).
import { sql } from 'kysely';
import type { Db } from './connect';

export async function runDevices(db: Db, sweepId: string): Promise<Map<string, unknown>> {
  const col = await sql<{ n: number }>`select count(*)::int as n from information_schema.columns where table_name = 'runs' and column_name = 'device'`.execute(db);
  const out = new Map<string, unknown>();
  if ((col.rows[0]?.n ?? 0) === 0) return out;
  const rows = await sql<{ id: string; device: unknown }>`select id, device from runs where sweep_id = ${sweepId}`.execute(db);
  for (const r of rows.rows) out.set(r.id, r.device);
  return out;
}
