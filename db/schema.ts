// The database, as Kysely sees it: one interface per table or view. This is a public
// interface (researchers write SQL against it), documented in README.md#schema.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { RunConfig, SweepSpec } from '../domain/spec';
import type { CodeProvenance } from '../domain/provenance';
import type { DeviceInfo } from '../engine/types';

export type SweepStatus = 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** bigint columns come back from pg as strings; we parse them to numbers in db/connect.ts. */
type Count = ColumnType<number, number, number>;
/** A nullable column that inserts may leave out (null). */
type Optional<T> = ColumnType<T | null, T | null | undefined, T | null>;

export interface SweepsTable {
  id: string;
  name: string;
  spec: JSONColumnType<SweepSpec>;
  status: SweepStatus;
  task_queue: string;
  total_runs: number;
  /** The sweep's current (last started) workflow execution. */
  workflow_id: string;
  /** Workflow executions so far: 1 at submit, +1 per `retry` or `extend`. */
  executions: Generated<number>;
  message: string | null;
  created_at: Generated<Date>;
  finished_at: Timestamp | null;
}

export interface RunsTable {
  id: string;
  sweep_id: string;
  run_index: number;
  /** Hash of `config`: the same run in two sweeps has the same key. */
  run_key: string;
  label: string;
  config: JSONColumnType<RunConfig>;
  status: RunStatus;
  backend: string | null;
  worker: string | null;
  total_params: Count | null;
  non_embedding_params: Count | null;
  linear_params: Count | null;
  /** N̄ of "The Journey Matters": mean over training steps of non-zero linear weights. */
  avg_nonzero_params: number | null;
  steps_total: number;
  steps_done: Generated<number>;
  final_train_loss: number | null;
  final_val_loss: number | null;
  train_seconds: Generated<number>;
  measure_seconds: Generated<number>;
  attempts: Generated<number>;
  /** The run whose stored results this run copied (`submit`/`extend` reuse); null when trained here. */
  reused_from: Optional<string>;
  /** `<package version>+<code fingerprint>` of the code that trained the run; reuse requires it equal. */
  code_version: Optional<string>;
  error: string | null;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: Generated<Date>;
  /** Token-budget ladder: the trunk run whose points up to `branch_step` this run copied, and whose state it trained on from. */
  branch_of: ColumnType<string | null, string | null | undefined, string | null>;
  branch_step: ColumnType<number | null, number | null | undefined, number | null>;
  /** Build of the worker that trained the first segment (`builds.build_id`). */
  build_id: string | null;
  /** Where the first segment trained (engine/types.ts DeviceInfo). */
  device: JSONColumnType<DeviceInfo> | null;
  /** Segments of this run were trained by more than one build. */
  mixed_builds: Generated<boolean>;
}

/** One build of the code, as workers announce it (domain/provenance.ts CodeProvenance). */
export interface BuildsTable {
  build_id: string;
  package_version: string;
  source: CodeProvenance['source'];
  git_commit: string | null;
  git_dirty: boolean | null;
  content_hash: string;
  content_of: CodeProvenance['contentOf'];
  dependencies: JSONColumnType<Record<string, string>>;
  code: JSONColumnType<CodeProvenance>;
  first_seen: Generated<Date>;
}

export type SegmentStatus = 'running' | 'completed' | 'drained' | 'diverged' | 'failed' | 'cancelled' | 'abandoned';

/** One attempt at a training segment: who trained steps from_step..reached_step of a run, with which build, on which device. */
export interface RunSegmentsTable {
  id: Generated<number>;
  run_id: string;
  /** Temporal's attempt number of the activity (1 = first try). */
  attempt: number;
  /** Committed step the segment started from. */
  from_step: number;
  /** Step it was asked to reach. */
  to_step: number;
  /** Last step it committed; below to_step when it was drained (SIGTERM) or failed. */
  reached_step: number | null;
  status: SegmentStatus;
  worker: string;
  host: string;
  slot: number | null;
  build_id: string;
  content_hash: string;
  backend: string;
  device: JSONColumnType<DeviceInfo>;
  started_at: Generated<Date>;
  finished_at: Timestamp | null;
}

export interface RunPointsTable {
  run_id: string;
  step: number;
  tokens: Count;
  /** Mean training loss over the steps since the previous point. */
  train_loss: number;
  val_loss: number;
  /** The sweep's primary metric (default `ppl-1%`). */
  activation_ratio: number | null;
  metric: string;
  dead_ratio: number | null;
  nonzero_params: Count;
  lr: number;
  recorded_at: Generated<Date>;
}

export interface MetricPointsTable {
  run_id: string;
  step: number;
  metric: string;
  activation_ratio: number;
  detail: JSONColumnType<Record<string, number>> | null;
}

export interface LayerPointsTable {
  run_id: string;
  step: number;
  layer: number;
  metric: string;
  activation_ratio: number;
}

/** One row per run: a pointer to the run's latest committed checkpoint blob in a checkpoint store. */
export interface CheckpointsTable {
  run_id: string;
  step: number;
  /** Where the blob lives: file:///…, s3://bucket/…, or postgres:<key> (rows of checkpoint_blobs). */
  uri: string;
  /** Lower-case hex SHA-256 of the blob, verified on every restore. */
  sha256: string;
  /** Blob size in bytes (bigint column, read as a number). */
  bytes: number;
  /** Checkpoint byte format (1 = SPCK0001). */
  format_version: number;
  /** The tfjs backend that wrote it. */
  backend: string;
  created_at: Generated<Date>;
}

/** Blobs of the postgres checkpoint store, in chunks of at most 16 MiB. */
export interface CheckpointBlobsTable {
  blob_key: string;
  seq: number;
  data: Buffer;
  created_at: Generated<Date>;
}

/** A trunk run's checkpoint (a pointer to its blob) at a step where shorter budgets branch, kept until each of them took it. */
export interface BranchCheckpointsTable {
  trunk_run_id: string;
  step: number;
  uri: string;
  sha256: string;
  bytes: Count;
  format_version: number;
  backend: string;
  remaining: number;
  created_at: Generated<Date>;
}

export interface FitsTable {
  id: Generated<number>;
  sweep_id: string;
  law: string;
  group_key: string;
  params: JSONColumnType<Record<string, number>>;
  ci: JSONColumnType<Record<string, [number, number]>>;
  flags: JSONColumnType<Record<string, string>>;
  mae: number | null;
  mse: number | null;
  r2: number | null;
  n: number;
  /** ok | not-identified | degenerate | failed (analysis/verdict.ts); only `ok` fits are known curves */
  status: string;
  /** what the data are (points used, units); journey-matters verdict rows: what the comparison found */
  message: string | null;
  created_at: Generated<Date>;
  /** why status is not `ok`; null when ok (rows written before 2026_12_02_0040: null) */
  reason: string | null;
  converged: boolean | null;
  iterations: number | null;
  /** the optimizer's own termination message */
  optimizer_message: string | null;
  aic: number | null;
  /** journey-matters rows only: mean |ln L̂ − ln L| over runs, each predicted by the fit to the others */
  heldout_error: number | null;
}

/** View `run_overview`: one row per run with its configuration spelled out in columns. */
export interface RunOverviewView {
  run_id: string;
  sweep_id: string;
  sweep_name: string;
  run_index: number;
  label: string;
  status: RunStatus;
  family: string;
  activation: string;
  d_model: number;
  n_layers: number;
  width_depth_ratio: number;
  pruning: string;
  final_sparsity: number;
  seed: number;
  steps: number;
  total_params: number | null;
  non_embedding_params: number | null;
  linear_params: number | null;
  avg_nonzero_params: number | null;
  final_train_loss: number | null;
  final_val_loss: number | null;
  backend: string | null;
  worker: string | null;
  train_seconds: number;
  measure_seconds: number;
  started_at: Date | null;
  finished_at: Date | null;
  build_id: string | null;
  mixed_builds: boolean;
  /** `cpu` or `gpu`. */
  device_kind: string | null;
  /** GPU model, else CPU model. */
  device_name: string | null;
  host: string | null;
  device: DeviceInfo | null;
}

/** View `activation_curves`: every metric's activation ratio at every eval point, with the run's axes. */
export interface ActivationCurvesView {
  sweep_id: string;
  run_id: string;
  label: string;
  activation: string;
  d_model: number;
  n_layers: number;
  width_depth_ratio: number;
  pruning: string;
  seed: number;
  step: number;
  tokens: number;
  metric: string;
  activation_ratio: number;
  val_loss: number;
  train_loss: number;
  nonzero_params: number;
}

/** View `final_points`: each run's overview plus its last stored point. */
export interface FinalPointsView extends RunOverviewView {
  last_step: number;
  tokens: number;
  val_loss: number;
  activation_ratio: number | null;
  metric: string;
  dead_ratio: number | null;
  nonzero_params: number;
}

export interface Database {
  sweeps: SweepsTable;
  runs: RunsTable;
  run_points: RunPointsTable;
  metric_points: MetricPointsTable;
  layer_points: LayerPointsTable;
  checkpoints: CheckpointsTable;
  checkpoint_blobs: CheckpointBlobsTable;
  branch_checkpoints: BranchCheckpointsTable;
  fits: FitsTable;
  builds: BuildsTable;
  run_segments: RunSegmentsTable;
  run_overview: RunOverviewView;
  activation_curves: ActivationCurvesView;
  final_points: FinalPointsView;
}
