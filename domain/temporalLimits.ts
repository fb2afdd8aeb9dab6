// What a Temporal server holds by default, for refusing at submit what would fail later. Values are
// the self-hosted defaults of Temporal's dynamic config (docs.temporal.io, "Temporal Platform
// limits"; server `common/dynamicconfig/constants.go`); Temporal Cloud uses the same ones.

/** `limit.historyCount.error`: a workflow history past this many events is terminated. */
export const HISTORY_EVENT_LIMIT = 51_200;
/** `limit.numPendingChildExecutions.error`: child workflows a workflow may have open at once. */
export const PENDING_CHILDREN_LIMIT = 2_000;
/** `limit.blobSize.error`: one payload (a workflow's input) may not exceed 2 MiB. */
export const PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024;
/** `limit.maxIDLength`: workflow ids, task queue names and the like. */
export const ID_LENGTH_LIMIT = 1_000;

/**
 * History events the sweep workflow writes per run it starts: child initiated + started + closed,
 * plus its share of workflow tasks; measured 2,426 events for 500 runs (4.85 per run) in
 * `sparsity bench orchestration`, rounded up.
 */
export const SWEEP_EVENTS_PER_RUN = 5;
/** Events besides the runs: start, status activities, the fit activity, continue-as-new. */
export const SWEEP_EVENTS_FIXED = 40;
/** Room left for signals (pause/resume), retries and queries' side effects. */
export const HISTORY_HEADROOM = 0.8;
