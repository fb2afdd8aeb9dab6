// Token-budget ladders: when runs that differ only in `steps` may branch from one trunk, and the
// learning-rate schedule with a warmup given in steps that makes it possible.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPTIM_DEFAULTS } from '../../domain/defaults';
import { expandGrid, runAt } from '../../domain/grid';
import { hashJson } from '../../domain/hash';
import { branchStepOf, ladderInputAt, planLadders } from '../../domain/ladder';
import { learningRate, wsdDecayStart } from '../../domain/lrSchedule';
import type { OptimConfig } from '../../domain/spec';
import { parseSweepText } from '../../domain/sweepSchema';
import { refusedSweep } from '../sweeps';

const ladderFile = (optim: string, extra = '', steps = '[40, 60, 80]', evalEvery = 5) => `name: ladder
${extra}optim: ${optim}
training: {steps: 80, evalEvery: ${evalEvery}}
grid:
  activation: [relu]
  size: [{dModel: 16, nLayers: 2}]
  pruning: [{schedule: none}, {schedule: cubic, finalSparsity: 0.5}]
  steps: ${steps}
  seed: [0, 1]
`;
const WSD = '{schedule: wsd, warmupSteps: 4, decay: 0.25}';


describe('learning rate with warmupSteps', () => {
  const optim: OptimConfig = {
    lr: 1,
    schedule: 'wsd',
    warmup: 0,
    warmupSteps: 4,
    decay: 0.25,
    minLrRatio: 0.1,
    weightDecay: 0,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    gradClip: 0,
  };

  it('warms up over the given steps whatever the run length', () => {
    for (const T of [40, 80, 1000]) {
      assert.deepEqual([0, 1, 2, 3].map((s) => learningRate(optim, s, T)), [0.25, 0.5, 0.75, 1]);
      assert.equal(learningRate(optim, 4, T), 1);
    }
  });

  it('decays linearly to minLr over the last round(decay*T) steps, from step T - round(decay*T)', () => {
    assert.equal(wsdDecayStart(optim, 40), 30);
    assert.equal(wsdDecayStart(optim, 60), 45);
    assert.equal(learningRate(optim, 29, 40), 1);
    assert.ok(Math.abs(learningRate(optim, 30, 40) - (1 + (0.1 - 1) / 10)) < 1e-15);
    assert.ok(Math.abs(learningRate(optim, 39, 40) - 0.1) < 1e-15);
    assert.ok(learningRate(optim, 35, 40) < learningRate(optim, 34, 40));
  });

  it('gives runs of any length the same rate before the shorter one decays', () => {
    for (let s = 0; s < 30; s++) assert.equal(learningRate(optim, s, 40), learningRate(optim, s, 80), `step ${s}`);
    assert.notEqual(learningRate(optim, 30, 40), learningRate(optim, 30, 80));
  });

  it('keeps the fraction warmup when warmupSteps is absent', () => {
    const { warmupSteps: _, ...frac } = { ...optim, warmup: 0.1 };
    assert.equal(learningRate(frac, 0, 40), 1 / 4);
    assert.equal(learningRate(frac, 0, 80), 1 / 8);
  });
});

describe('sweep file: warmupSteps', () => {
  it('stores warmupSteps only when given, so older configurations keep their run keys', () => {
    const old = parseSweepText(ladderFile('{schedule: wsd, decay: 0.25}'), 'sweep.yaml');
    const cfg = runAt(old, 0).config;
    assert.ok(!('warmupSteps' in cfg.optim));
    assert.equal(cfg.optim.warmup, 0.05);
    // Same fields as before warmupSteps existed (OPTIM_DEFAULTS lists them), so the same run key.
    assert.deepEqual(Object.keys(cfg.optim).sort(), Object.keys(OPTIM_DEFAULTS).sort());
    assert.equal(runAt(old, 0).key, hashJson(cfg));
    const withSteps = runAt(parseSweepText(ladderFile(WSD), 'sweep.yaml'), 0).config;
    assert.equal(withSteps.optim.warmupSteps, 4);
    assert.equal(withSteps.optim.warmup, 0);
  });

  it('refuses warmup and warmupSteps together, naming both', () => {
    assert.match(refusedSweep(ladderFile('{schedule: wsd, warmup: 0.1, warmupSteps: 4}')), /optim\.warmupSteps: give the warmup as a fraction \(warmup: 0\.1\) or in steps \(warmupSteps: 4\), not both/);
  });

  it('refuses a warmup as long as the shortest run', () => {
    assert.match(refusedSweep(ladderFile('{schedule: wsd, warmupSteps: 40}')), /optim\.warmupSteps: must be shorter than every run \(shortest: 40 steps\) \(got 40\)/);
  });

  it('refuses a fractional or negative warmupSteps', () => {
    assert.match(refusedSweep(ladderFile('{schedule: wsd, warmupSteps: 2.5}')), /optim\.warmupSteps: .*\(got 2\.5\)/);
    assert.match(refusedSweep(ladderFile('{schedule: wsd, warmupSteps: -1}')), /optim\.warmupSteps: .*\(got -1\)/);
  });
});

describe('ladder planning', () => {
  it('branches the shorter budgets of each unpruned group from its longest run', () => {
    const spec = parseSweepText(ladderFile(WSD), 'sweep.yaml');
    // The steps axis is run longest first, so a trunk always starts before its branches.
    assert.deepEqual(spec.grid.steps, [80, 60, 40]);
    const runs = expandGrid(spec);
    const plan = planLadders(spec);
    assert.equal(plan.length, 12);
    const dense = runs.filter((r) => r.config.pruning.schedule === 'none');
    for (const seed of [0, 1]) {
      const [trunk, b60, b40] = [80, 60, 40].map((T) => dense.find((r) => r.config.seed === seed && r.config.training.steps === T)!);
      assert.deepEqual(plan[trunk.index], { role: 'trunk', branchPoints: [{ step: 30, branches: 1 }, { step: 45, branches: 1 }] });
      assert.deepEqual(plan[b60.index], { role: 'branch', trunkIndex: trunk.index, fromStep: 45 });
      assert.deepEqual(plan[b40.index], { role: 'branch', trunkIndex: trunk.index, fromStep: 30 });
      assert.ok(trunk.index < b60.index && b60.index < b40.index);
      // A branch differs from its trunk in steps only.
      const strip = (c: typeof trunk.config) => ({ ...c, training: { ...c.training, steps: 0 } });
      assert.equal(hashJson(strip(b40.config)), hashJson(strip(trunk.config)));
    }
    for (const r of runs.filter((r) => r.config.pruning.schedule !== 'none')) {
      const role = plan[r.index];
      assert.equal(role.role, 'single');
      assert.match(role.role === 'single' ? role.reason : '', /pruning \(cubic\) starts and ends at fractions of the run/);
    }
  });

  it('passes the trunk run id and branch step to a branched RunWorkflow, branch points to its trunk', () => {
    const spec = parseSweepText(ladderFile(WSD), 'sweep.yaml');
    const plan = planLadders(spec);
    const b = plan.findIndex((r) => r.role === 'branch');
    const role = plan[b];
    assert.ok(role.role === 'branch');
    assert.deepEqual(ladderInputAt(spec, 'sw', b), { branch: { trunkRunId: `sw.r${String(role.trunkIndex).padStart(4, '0')}`, fromStep: role.fromStep } });
    assert.ok('branchPoints' in ladderInputAt(spec, 'sw', role.trunkIndex));
    const single = plan.findIndex((r) => r.role === 'single');
    assert.deepEqual(ladderInputAt(spec, 'sw', single), {});
  });

  const singles: [string, string, RegExp][] = [
    ['a cosine schedule', ladderFile('{schedule: cosine, warmupSteps: 4}'), /schedule cosine changes with the run's length/],
    ['a warmup given as a fraction', ladderFile('{schedule: wsd, warmup: 0.1, decay: 0.25}'), /warmup is a fraction of the run/],
    ['ladders switched off', ladderFile(WSD, 'ladder: false\n'), /ladders are off \(ladder: false\)/],
    ['one token budget', ladderFile(WSD, '', '[80]'), /one token budget/],
  ];
  for (const [what, text, reason] of singles) {
    it(`trains every run on its own with ${what}`, () => {
      const plan = planLadders(parseSweepText(text, 'sweep.yaml'));
      for (const role of plan) {
        assert.equal(role.role, 'single');
        assert.match(role.role === 'single' ? role.reason : '', reason);
      }
    });
  }

  it('keeps the order of the steps axis as written when no ladder can apply', () => {
    assert.deepEqual(parseSweepText(ladderFile('{schedule: wsd, decay: 0.25}'), 'sweep.yaml').grid.steps, [40, 60, 80]);
    assert.deepEqual(parseSweepText(ladderFile(WSD, 'ladder: false\n'), 'sweep.yaml').grid.steps, [40, 60, 80]);
  });

  it('does not branch where the decay starts off an eval point', () => {
    // evalEvery 10: the 60-step run decays from step 45, the 40-step one from 30.
    const spec = parseSweepText(ladderFile(WSD, '', '[40, 60, 80]', 10), 'sweep.yaml');
    const plan = planLadders(spec);
    const runs = expandGrid(spec);
    const of = (T: number) => plan[runs.find((r) => r.config.training.steps === T && r.config.pruning.schedule === 'none' && r.config.seed === 0)!.index];
    assert.deepEqual(of(80), { role: 'trunk', branchPoints: [{ step: 30, branches: 1 }] });
    assert.match(JSON.stringify(of(60)), /its decay starts at step 45, not an eval point \(evalEvery 10\)/);
    assert.equal(of(40).role, 'branch');
  });

  it('does not branch a budget whose decay is the whole run, nor one whose decay starts off an eval point', () => {
    // decay 0.5: 80 steps decay from 40, 50 from 25, 45 from 45 - round(22.5) = 22.
    const spec = parseSweepText(ladderFile('{schedule: wsd, warmupSteps: 4, decay: 0.5}', '', '[45, 80, 50]'), 'sweep.yaml');
    const runs = expandGrid(spec);
    const plan = planLadders(spec);
    const idx = (T: number) => runs.find((r) => r.config.training.steps === T && r.config.pruning.schedule === 'none' && r.config.seed === 0)!.index;
    assert.equal(branchStepOf(runs[idx(80)].config), 40);
    assert.deepEqual(plan[idx(50)], { role: 'branch', trunkIndex: idx(80), fromStep: 25 });
    assert.match(JSON.stringify(plan[idx(45)]), /its decay starts at step 22, not an eval point/);
    const whole = planLadders(parseSweepText(ladderFile('{schedule: wsd, warmupSteps: 4, decay: 1}'), 'sweep.yaml'));
    assert.ok(whole.every((r) => r.role === 'single'));
    assert.match(JSON.stringify(whole), /its decay covers the whole run \(decay 1\)/);
  });

  it('refuses nothing and changes no run key: a ladder only changes how runs are trained', () => {
    const on = expandGrid(parseSweepText(ladderFile(WSD), 'sweep.yaml'));
    const off = expandGrid(parseSweepText(ladderFile(WSD, 'ladder: false\n'), 'sweep.yaml'));
    assert.deepEqual(new Set(on.map((r) => r.key)), new Set(off.map((r) => r.key)));
  });
});
