#!/usr/bin/env bash
# The reliability story through the CLI, as a researcher would live it:
#   sparsity dev --workers 0        (Temporal + Postgres, no workers)
#   a worker started by hand        -> kill -9 (whole process group) in the middle of a run
#   a second worker                 -> finishes the sweep from the last checkpoints
#   the same sweep under another --name, undisturbed -> identical final losses per run
# Usage: bash examples/kill-scenario.sh   (about 3 minutes on 2 cores)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sparsity() { node "$root/bin/sparsity.js" "$@"; }
export SPARSITY_HOME="${SPARSITY_HOME:-$(mktemp -d /tmp/sparsity-scenario-XXXX)}"
chmod 755 "$SPARSITY_HOME"
sweep="$SPARSITY_HOME/sweep.yaml"
cat > "$sweep" <<'YAML'
name: killed
taskQueue: scenario
maxParallel: 2
segmentSteps: 1000
heartbeatTimeout: 10
model: { family: mlp, ffn: plain, ffnMult: 4, inputDim: 16, outputDim: 8 }
data: { kind: teacher, valSize: 256 }
training: { steps: 4000, batchSize: 32, evalEvery: 100 }
measure: { metrics: [exact], primary: exact }
grid:
  activation: [relu, silu]
  size: [{ dModel: 64, nLayers: 2 }]
YAML

log() { printf '\n== %s\n' "$*" >&2; }
cleanup() { kill -TERM "$dev" 2>/dev/null || true; kill -9 -- "-$w2" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; }
trap cleanup EXIT

log "sparsity dev --workers 0 (state in $SPARSITY_HOME)"
node "$root/bin/sparsity.js" dev --workers 0 --port 7290 --ui-port 8290 2>"$SPARSITY_HOME/dev.log" &
dev=$!
until grep -q Ready "$SPARSITY_HOME/dev.log"; do sleep 0.5; done

log "worker 1, started by hand"
setsid node "$root/bin/sparsity.js" worker --task-queue scenario --slots 2 2>"$SPARSITY_HOME/worker1.log" &
w1=$!
id=$(sparsity submit "$sweep" --json | node -pe 'JSON.parse(require("fs").readFileSync(0)).sweepId')
log "submitted $id; waiting until both runs are mid-way"
until [ "$(sparsity sql "select count(*) as n from runs where sweep_id = '$id' and steps_done >= 400" --json 2>/dev/null | node -pe 'JSON.parse(require("fs").readFileSync(0))[0].n')" = 2 ]; do sleep 1; done
sparsity sql "select label, steps_done from runs where sweep_id = '$id' order by 1" 2>/dev/null
log "kill -9 worker 1 (its whole process group: the orchestration process and both training slots)"
kill -9 -- "-$w1"

log "worker 2 takes over after the heartbeat timeout"
setsid node "$root/bin/sparsity.js" worker --task-queue scenario --slots 2 2>"$SPARSITY_HOME/worker2.log" &
w2=$!
sparsity status "$id" --watch >/dev/null
again=$(sparsity submit "$sweep" --name undisturbed --wait --json | node -pe 'JSON.parse(require("fs").readFileSync(0)).sweepId')

log "final losses per run: killed sweep vs the same sweep undisturbed"
sparsity sql "select a.label, a.final_val_loss as killed, b.final_val_loss as undisturbed,
                     a.final_val_loss = b.final_val_loss as identical, a.attempts as killed_attempts,
                     (select count(*) from run_points p where p.run_id = a.id) as points
              from runs a join runs b on b.run_key = a.run_key
              where a.sweep_id = '$id' and b.sweep_id = '$again' order by 1"
same=$(sparsity sql "select bool_and(a.final_val_loss = b.final_val_loss) as ok from runs a join runs b on b.run_key = a.run_key where a.sweep_id = '$id' and b.sweep_id = '$again'" --json 2>/dev/null | node -pe 'JSON.parse(require("fs").readFileSync(0))[0].ok')
[ "$same" = true ] && log "identical: yes" || { log "identical: NO"; exit 1; }
