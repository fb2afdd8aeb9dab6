// Sweeps that are valid field by field but cannot run are refused at submit, each kind with the
// field named: what Temporal cannot hold, and values that make no sense together.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../domain/errors';
import { parseSweepText, validateSweep } from '../../domain/sweepSchema';
import { refusedSweep } from '../sweeps';
import { checkpointStoreWarning } from '../../domain/feasibility';

const FIX = path.join(__dirname, '..', 'fixtures', 'sweeps');

const base = `name: t
training: {steps: 100, evalEvery: 10}
grid:
  activation: [relu, silu]
  size: [{dModel: 64, nLayers: 2}]
  pruning: [{schedule: none}, {schedule: cubic, finalSparsity: 0.5}]
  seed: [0, 1]
`;


describe('refused at submit: values Temporal cannot hold', () => {
  it('a workflow history past the event limit (history-limit.yaml)', () => {
    const m = refusedSweep(readFileSync(path.join(FIX, 'history-limit.yaml'), 'utf8'));
    assert.match(m, /continueAsNewEvery: 100000 lets one sweep-workflow history start 20000 of the 20000 runs, about 100040 events, past Temporal's 51200-event history limit/);
    assert.match(m, /use continueAsNewEvery ≤ 8184/);
  });
  it('more pending child workflows than Temporal allows (pending-children.yaml)', () => {
    assert.match(refusedSweep(readFileSync(path.join(FIX, 'pending-children.yaml'), 'utf8')), /maxParallel: 5000 exceeds Temporal's limit of 2000 pending child workflows/);
  });
  it('a task queue name past the length limit, or in the reserved namespace', () => {
    assert.match(refusedSweep(`taskQueue: ${'q'.repeat(999)}\n${base}`), /taskQueue: 999 characters: with "\.train" appended it exceeds Temporal's 1000-character limit/);
    assert.match(refusedSweep(`taskQueue: /_sys/mine\n${base}`), /taskQueue: "\/_sys\/" names are reserved by Temporal/);
  });
  it('a sweep definition past the workflow payload limit', () => {
    // Built as an object: a 300,000-value YAML list would spend most of the test in the YAML parser.
    const seed = Array.from({ length: 300_000 }, (_, i) => 1_000_000 + i);
    const input = { name: 't', maxRuns: 1_000_000, training: { steps: 100, evalEvery: 10 }, grid: { activation: ['relu'], size: [{ dModel: 64, nLayers: 2 }], seed } };
    try {
      validateSweep(input, 'sweep.yaml');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, /grid: the sweep's definition is 2\.\d\d MiB as workflow input, past Temporal's 2 MiB payload limit/);
    }
  });
});

describe('refused at submit: values that make no sense together', () => {
  it('pruning that starts above its final sparsity (pruning-initial-above-final.yaml)', () => {
    assert.match(
      refusedSweep(readFileSync(path.join(FIX, 'pruning-initial-above-final.yaml'), 'utf8')),
      /grid\.pruning\[1\]\.initialSparsity: 0\.8 is above finalSparsity 0\.5/,
    );
  });
  it('a sparsity on a schedule that never prunes', () => {
    assert.match(refusedSweep(base.replace('{schedule: none}', '{schedule: none, finalSparsity: 0.5}')), /grid\.pruning\[0\]\.schedule: "none" never prunes, but finalSparsity 0\.5/);
  });
  it('an eval interval that leaves no curve (eval-every-above-steps.yaml), also per token budget', () => {
    assert.match(refusedSweep(readFileSync(path.join(FIX, 'eval-every-above-steps.yaml'), 'utf8')), /training\.evalEvery: 5000 is longer than the run \(600 steps, training\.steps\)/);
    assert.match(refusedSweep(base.replace('seed: [0, 1]', 'seed: [0, 1]\n  steps: [100, 8]')), /training\.evalEvery: 10 is longer than the run \(8 steps, grid\.steps\[1\]\)/);
  });
  it('a heartbeat timeout shorter than a training step or an evaluation can take', () => {
    const big = `name: t
heartbeatTimeout: 5
model: {family: transformer, ffn: gated, nHeads: 8, seqLen: 512, vocabSize: 32000}
data: {kind: brown, valSize: 64}
training: {steps: 1000, batchSize: 32, evalEvery: 100}
grid:
  activation: [relu]
  size: [{dModel: 1024, nLayers: 8}]
`;
    assert.match(refusedSweep(big), /heartbeatTimeout: 5 s is shorter than one (training step|evaluation).* of the largest model \(dModel 1024, nLayers 8\) can take: ~\d+ s at 3 GFLOP\/s \(the slowest CPU backend\)/);
    // On a GPU queue the same model's step and evaluation take seconds.
    assert.match(refusedSweep(`taskQueue: gpu-h100\n${big}`), /heartbeatTimeout: 5 s .* at 2000 GFLOP\/s \(a GPU queue\)/);
    parseSweepText(`taskQueue: gpu-h100\n${big.replace('heartbeatTimeout: 5', 'heartbeatTimeout: 120')}`, 'ok.yaml');
    // A step no heartbeat timeout makes sense for: the field that makes it so is named instead.
    assert.match(
      refusedSweep(big.replace('batchSize: 32', 'batchSize: 1000000000000')),
      /training\.batchSize: one training step of the largest model \(dModel 1024, nLayers 8\) at batchSize 1000000000000 would take ~[\d.e+]+ years at 3 GFLOP\/s \(the slowest CPU backend\): reduce training\.batchSize or the model \(grid\.size\)/,
    );
    assert.match(refusedSweep(big.replace('valSize: 64', 'valSize: 100000')), /data\.valSize: one evaluation \(validation loss and sparsity metrics\) of the largest model .* at valSize 100000 would take ~[\d.]+ (days|years)/);
  });
  it('a checkpoint larger than the postgres store takes, when the sweep names that store (a warning when it names none)', () => {
    const big = `name: t
taskQueue: gpu-h100
heartbeatTimeout: 120
model: {family: transformer, ffn: gated, nHeads: 8, seqLen: 512, vocabSize: 32000}
data: {kind: brown, valSize: 64}
training: {steps: 1000, batchSize: 32, evalEvery: 100}
grid:
  activation: [relu]
  size: [{dModel: 256, nLayers: 2}, {dModel: 1024, nLayers: 8}]
`;
    assert.match(
      refusedSweep(`checkpointStore: postgres\n${big}`),
      /checkpointStore: postgres takes checkpoints up to 256 MiB, and grid\.size\[1\] \(dModel 1024, nLayers 8\) needs ~\d{4} MiB \(parameters and both AdamW moments\): use file:\/\/\/shared\/path or s3:\/\/bucket\/prefix/,
    );
    assert.equal(checkpointStoreWarning(parseSweepText(`checkpointStore: file:///ckpt\n${big}`, 'ok.yaml')), null);
    assert.match(checkpointStoreWarning(parseSweepText(big, 'ok.yaml')) ?? '', /grid\.size\[1\], dModel 1024, nLayers 8\) is ~\d{4} MiB, more than the postgres checkpoint store takes \(256 MiB\)/);
    // The smaller model alone fits the postgres store: nothing to say or refuse.
    const small = big.replace(', {dModel: 1024, nLayers: 8}', '');
    assert.equal(checkpointStoreWarning(parseSweepText(`checkpointStore: postgres\n${small}`, 'ok.yaml')), null);
    assert.equal(checkpointStoreWarning(parseSweepText(small, 'ok.yaml')), null);
  });
  it('grid lists with repeated values, on every axis', () => {
    assert.match(refusedSweep(base.replace('seed: [0, 1]', 'seed: [0, 1, 0]')), /grid\.seed\[2\]: repeats grid\.seed\[0\] \(0\): every run with it would train twice/);
    assert.match(refusedSweep(base.replace('[relu, silu]', '[relu, relu]')), /grid\.activation\[1\]: repeats grid\.activation\[0\]/);
    assert.match(refusedSweep(base.replace('seed: [0, 1]', 'seed: [0, 1]\n  lr: [0.001, 0.001]')), /grid\.lr\[1\]: repeats grid\.lr\[0\]/);
    assert.match(refusedSweep(base.replace('seed: [0, 1]', 'seed: [0, 1]\n  steps: [100, 100]')), /grid\.steps\[1\]: repeats grid\.steps\[0\]/);
    // Written differently, trained the same: a dense run with a different (ignored) window, two sizes resolving alike.
    assert.match(refusedSweep(base.replace('{schedule: none}', '{schedule: none}, {schedule: none, start: 0.1}')), /grid\.pruning\[1\]: repeats grid\.pruning\[0\]/);
    assert.match(
      refusedSweep(base.replace('size: [{dModel: 64, nLayers: 2}]', 'size: [{dModel: 64, nLayers: 2}, {dModel: 64, nLayers: 2, nHeads: 4}]').replace('name: t', 'name: t\nmodel: {family: transformer, nHeads: 4}\ndata: {kind: brown}')),
      /grid\.size\[1\]: resolves to the same model as grid\.size\[0\] \(dModel 64, nLayers 2\)/,
    );
  });
  it('a size budget no valid shape reaches within 5%', () => {
    assert.match(
      refusedSweep(base.replace('size: [{dModel: 64, nLayers: 2}]', 'size: [{budget: 500, ratio: 8}]').replace('name: t', 'name: t\nmodel: {family: transformer}\ndata: {kind: brown}')),
      /grid\.size\[0\]: no valid shape reaches budget 500 at ratio 8 within 5% \(nearest: dModel \d+, nLayers \d+ = \d+ parameters/,
    );
  });
  it('a {budget, ratio} whose in-budget shapes are all far from the ratio (the study found 0.2M at ratio 16 training ratio 3.6)', () => {
    const transformer = (size: string) => base.replace('size: [{dModel: 64, nLayers: 2}]', `size: [${size}]`).replace('name: t', 'name: t\nheartbeatTimeout: 600\nmodel: {family: transformer, ffn: gated, ffnMult: 2.5, vocabSize: 1024}\ndata: {kind: brown}');
    assert.match(
      refusedSweep(transformer('{budget: 200000, ratio: 16}')),
      /grid\.size\[0\]: no valid shape within 5% of budget 200000 has a width\/depth ratio within 1\.5× of 16 \(nearest: dModel 40, nLayers 11, ratio 3\.6\); give \{ dModel, nLayers \} explicitly/,
    );
    // The same budget at a ratio it can reach is accepted, and a larger budget reaches ratio 16.
    assert.doesNotThrow(() => parseSweepText(transformer('{budget: 200000, ratio: 4}'), 't.yaml'));
    assert.doesNotThrow(() => parseSweepText(transformer('{budget: 1000000, ratio: 16}'), 't.yaml'));
  });
  it('lists every problem of a file at once', () => {
    const m = refusedSweep(base.replace('seed: [0, 1]', 'seed: [0, 0]').replace('{schedule: cubic, finalSparsity: 0.5}', '{schedule: cubic, initialSparsity: 0.6, finalSparsity: 0.5}'));
    assert.match(m, /initialSparsity: 0\.6 is above/);
    assert.match(m, /grid\.seed\[1\]: repeats/);
  });
  it('accepts the shipped examples', () => {
    for (const f of ['quick.yaml', 'transformer.yaml']) parseSweepText(readFileSync(path.join(__dirname, '..', '..', 'examples', f), 'utf8'), f);
  });
});
