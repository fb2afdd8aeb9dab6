// Token-budget ladders (pure, bundled into workflow code): which runs of a sweep share their
// stable phase with a longer run and branch their decay from its checkpoint.
//
// With a warmup-stable-decay (WSD) schedule whose warmup is given in steps, the learning rate of
// step t < decayStart(T) does not depend on the run's length T (domain/lrSchedule.ts). Nothing
// else of a run without pruning does either: batches are indexed by step, eval points are the
// multiples of `evalEvery` below T. So a run of T steps equals, step for step, the longest run of
// its group (the trunk) up to b = decayStart(T), provided b <= decayStart(trunk). Training it from
// the trunk's state at b then gives the same numbers as training it from scratch, bit for bit,
// and saves b steps. This is the WSD "branch the cooldown" practice of Hägele et al. 2024 (Scaling
// Laws and Compute-Optimal Training Beyond Fixed Training Durations) and MiniCPM (Hu et al. 2024).
//
// A branch step must also be an eval point of both runs: the branched run's first training loss
// after b is the mean since the previous eval point, which only equals the from-scratch value when
// b is one (the trunk commits its points and a branch checkpoint there).
import { alongAxis, gridSize, runAt, runIdOf } from './grid';
import { wsdDecayStart } from './lrSchedule';
import type { RunConfig, SweepSpec } from './spec';

export interface BranchPoint {
  /** Step of the trunk whose state a branch starts from. */
  step: number;
  /** Runs that branch there (each takes the checkpoint once; the last one frees it). */
  branches: number;
}

export type LadderRole =
  /** Trained on its own, from step 0; `reason` says why it is in no ladder. */
  | { role: 'single'; reason: string }
  /** The longest run of its group: trained from scratch, keeps a checkpoint at each branch point. */
  | { role: 'trunk'; branchPoints: BranchPoint[] }
  /** Copies the trunk's points up to `fromStep`, restores its checkpoint there, trains the rest. */
  | { role: 'branch'; trunkIndex: number; fromStep: number };

/** What a RunWorkflow is told about its ladder (both fields absent for a run in no ladder). */
export interface RunLadderInput {
  branch?: { trunkRunId: string; fromStep: number };
  branchPoints?: BranchPoint[];
}

/** Whether a sweep can hold ladders at all; the sweep file then lists the steps axis longest first. */
export function ladderCandidate(ladder: boolean | undefined, schedule: string, warmupSteps: number | undefined, steps: readonly number[]): boolean {
  return ladder !== false && schedule === 'wsd' && warmupSteps !== undefined && new Set(steps).size > 1;
}

/** The step at which a run's WSD decay starts: where it branches from its trunk. */
export function branchStepOf(config: RunConfig): number {
  return wsdDecayStart(config.optim, config.training.steps);
}

/** Why a run of the group cannot branch from `trunk`, or null when it can. */
function cannotBranch(run: RunConfig, trunk: RunConfig): string | null {
  const b = branchStepOf(run);
  const trunkDecay = branchStepOf(trunk);
  const every = run.training.evalEvery;
  if (b <= 0) return `its decay covers the whole run (decay ${run.optim.decay})`;
  if (b > trunkDecay) return `its decay starts at step ${b}, after the trunk's (${trunkDecay} of ${trunk.training.steps})`;
  if (b % every !== 0) return `its decay starts at step ${b}, not an eval point (evalEvery ${every})`;
  return null;
}

/**
 * The ladder role of run `index` of `spec`: O(number of token budgets) work, so the sweep workflow
 * can ask it for each run it starts. The group of a run is the runs that differ from it only in
 * `steps`; its trunk is the longest (the first listed on a tie).
 */
export function ladderRoleAt(spec: SweepSpec, index: number): LadderRole {
  // Sweep-level conditions first: they settle most sweeps without expanding a single run.
  const optim = spec.base.optim;
  if (spec.ladder === false) return { role: 'single', reason: 'ladders are off (ladder: false)' };
  if (new Set(spec.grid.steps).size < 2) return { role: 'single', reason: 'the sweep has one token budget' };
  if (optim.schedule !== 'wsd') return { role: 'single', reason: `schedule ${optim.schedule} changes with the run's length (ladders need wsd)` };
  if (optim.warmupSteps === undefined) return { role: 'single', reason: 'warmup is a fraction of the run (ladders need optim.warmupSteps)' };
  const run = runAt(spec, index).config;
  if (run.pruning.schedule !== 'none') return { role: 'single', reason: `pruning (${run.pruning.schedule}) starts and ends at fractions of the run` };

  const group = alongAxis(spec, index, 'steps').map((i) => ({ index: i, config: i === index ? run : runAt(spec, i).config }));
  const trunk = group.reduce((best, r) => (r.config.training.steps > best.config.training.steps ? r : best));
  if (trunk.index === index) {
    const counts = new Map<number, number>();
    for (const r of group) {
      if (r.index === index || cannotBranch(r.config, run) !== null) continue;
      const b = branchStepOf(r.config);
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    if (counts.size === 0) return { role: 'single', reason: 'no shorter budget can branch from it' };
    const branchPoints = [...counts].map(([step, branches]) => ({ step, branches })).sort((a, b) => a.step - b.step);
    return { role: 'trunk', branchPoints };
  }
  const why = cannotBranch(run, trunk.config);
  if (why !== null) return { role: 'single', reason: why };
  return { role: 'branch', trunkIndex: trunk.index, fromStep: branchStepOf(run) };
}

/** Every run's role, in run order (for tests, the CLI and small sweeps). */
export function planLadders(spec: SweepSpec): LadderRole[] {
  return Array.from({ length: gridSize(spec) }, (_, i) => ladderRoleAt(spec, i));
}

/** The fields of a RunWorkflow's input that carry its ladder role (none for a run in no ladder). */
export function ladderInputAt(spec: SweepSpec, sweepId: string, index: number): RunLadderInput {
  const role = ladderRoleAt(spec, index);
  if (role.role === 'branch') return { branch: { trunkRunId: runIdOf(sweepId, role.trunkIndex), fromStep: role.fromStep } };
  if (role.role === 'trunk') return { branchPoints: role.branchPoints };
  return {};
}
