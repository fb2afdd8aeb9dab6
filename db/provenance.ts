// Every query about provenance: the builds workers announce, one row per training segment, and
// each run's first build and device (issues 12.6, 13.3).
import { sql } from 'kysely';
import type { CodeProvenance } from '../domain/provenance';
import type { DeviceInfo } from '../engine/types';
import type { Db } from './connect';
import type { SegmentStatus } from './schema';

/** Stores a build the first time a worker announces it; the first announcement of an id wins. */
export async function recordBuild(db: Db, code: CodeProvenance): Promise<void> {
  await db
    .insertInto('builds')
    .values({
      build_id: code.buildId,
      package_version: code.packageVersion,
      source: code.source,
      git_commit: code.gitCommit,
      git_dirty: code.gitDirty,
      content_hash: code.contentHash,
      content_of: code.contentOf,
      dependencies: JSON.stringify(code.dependencies),
      code: JSON.stringify(code),
    })
    .onConflict((oc) => oc.column('build_id').doNothing())
    .execute();
}

/**
 * Marks `abandoned` the segments still `running` of the runs `where` selects: their worker can no
 * longer report (a newer attempt of the run started, or the run ended: cancelled, failed, or its
 * worker killed). `reached_step` becomes the last eval point they committed (null: none). A
 * segment that does report later (a slow attempt Temporal has given up on) overwrites this.
 */
export async function abandonRunningSegments(db: Db, where: { runId: string } | { sweepId: string }): Promise<void> {
  const runFilter = 'runId' in where ? sql`g.run_id = ${where.runId}` : sql`g.run_id in (select id from runs where sweep_id = ${where.sweepId})`;
  await sql`
    update run_segments g
       set status = 'abandoned', finished_at = now(),
           reached_step = (select max(p.step) from run_points p where p.run_id = g.run_id and p.step > g.from_step and p.step <= g.to_step)
     where g.status = 'running' and ${runFilter}`.execute(db);
}

export interface SegmentStart {
  runId: string;
  attempt: number;
  fromStep: number;
  toStep: number;
  worker: string;
  host: string;
  slot?: number;
  code: CodeProvenance;
  device: DeviceInfo;
}

/**
 * Records that a segment started, and in the same transaction: the run's build and device when
 * this is its first segment, and `runs.mixed_builds` when its segments now span several builds.
 * Returns the segment's id.
 */
export async function startSegment(db: Db, s: SegmentStart): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await recordBuild(tx, s.code);
    // A new attempt: whatever attempt of this run still looks `running` has stopped reporting.
    await abandonRunningSegments(tx, { runId: s.runId });
    const row = await tx
      .insertInto('run_segments')
      .values({
        run_id: s.runId,
        attempt: s.attempt,
        from_step: s.fromStep,
        to_step: s.toStep,
        status: 'running',
        worker: s.worker,
        host: s.host,
        slot: s.slot ?? null,
        build_id: s.code.buildId,
        content_hash: s.code.contentHash,
        backend: s.device.backend,
        device: JSON.stringify(s.device),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await tx
      .updateTable('runs')
      .set({
        build_id: sql`coalesce(build_id, ${s.code.buildId})`,
        device: sql`coalesce(device, ${JSON.stringify(s.device)}::jsonb)`,
        mixed_builds: sql`(select count(distinct build_id) > 1 from run_segments where run_id = ${s.runId})`,
        updated_at: sql`now()`,
      })
      .where('id', '=', s.runId)
      .execute();
    return row.id;
  });
}

/** Closes a segment: the last step it committed and how it ended. */
export async function finishSegment(db: Db, id: number, status: Exclude<SegmentStatus, 'running'>, reachedStep: number): Promise<void> {
  await db.updateTable('run_segments').set({ status, reached_step: reachedStep, finished_at: sql`now()` }).where('id', '=', id).execute();
}

export interface SegmentRow {
  runId: string;
  attempt: number;
  fromStep: number;
  toStep: number;
  reachedStep: number | null;
  status: SegmentStatus;
  worker: string;
  host: string;
  buildId: string;
  backend: string;
  device: DeviceInfo;
  startedAt: Date;
  finishedAt: Date | null;
}

/** Every segment of a sweep's runs, in run and start order. */
export async function sweepSegments(db: Db, sweepId: string): Promise<SegmentRow[]> {
  const rows = await db
    .selectFrom('run_segments as g')
    .innerJoin('runs as r', 'r.id', 'g.run_id')
    .select(['g.run_id', 'g.attempt', 'g.from_step', 'g.to_step', 'g.reached_step', 'g.status', 'g.worker', 'g.host', 'g.build_id', 'g.backend', 'g.device', 'g.started_at', 'g.finished_at'])
    .where('r.sweep_id', '=', sweepId)
    .orderBy('r.run_index')
    .orderBy('g.id')
    .execute();
  return rows.map((g) => ({
    runId: g.run_id,
    attempt: g.attempt,
    fromStep: g.from_step,
    toStep: g.to_step,
    reachedStep: g.reached_step,
    status: g.status,
    worker: g.worker,
    host: g.host,
    buildId: g.build_id,
    backend: g.backend,
    device: g.device,
    startedAt: g.started_at,
    finishedAt: g.finished_at,
  }));
}

/** One row per run: what trained it (first segment). `builds`: every build of its segments, sorted. */
export interface RunProvenance {
  runId: string;
  label: string;
  backend: string | null;
  device: DeviceInfo | null;
  host: string | null;
  buildId: string | null;
  gitCommit: string | null;
  gitDirty: boolean | null;
  builds: string[];
  mixedBuilds: boolean;
}

export async function runProvenance(db: Db, sweepId: string): Promise<RunProvenance[]> {
  const rows = await db
    .selectFrom('runs as r')
    .leftJoin('builds as b', 'b.build_id', 'r.build_id')
    .select((eb) => [
      'r.id',
      'r.label',
      'r.backend',
      'r.device',
      'r.build_id',
      'r.mixed_builds',
      'b.git_commit',
      'b.git_dirty',
      eb
        .selectFrom('run_segments as g')
        .select(sql<string[]>`coalesce(array_agg(distinct g.build_id), '{}')`.as('builds'))
        .whereRef('g.run_id', '=', 'r.id')
        .as('builds'),
    ])
    .where('r.sweep_id', '=', sweepId)
    .orderBy('r.run_index')
    .execute();
  return rows.map((r) => ({
    runId: r.id,
    label: r.label,
    backend: r.backend,
    device: r.device,
    host: r.device?.host ?? null,
    buildId: r.build_id,
    gitCommit: r.git_commit,
    gitDirty: r.git_dirty,
    builds: r.builds ?? [],
    mixedBuilds: r.mixed_builds,
  }));
}
