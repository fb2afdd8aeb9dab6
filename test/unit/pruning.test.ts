// Gradual magnitude pruning: the schedule arithmetic and the masks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  expectedAverageDensity,
  isPruneStep,
  maskSparsityAt,
  pruneWindow,
  sparsityAt,
  updateMasks,
} from '../../engine/sparsity/pruning';
import type { PruningConfig } from '../../domain/spec';

const cubic: PruningConfig = {
  schedule: 'cubic',
  start: 0.25,
  end: 0.75,
  initialSparsity: 0,
  finalSparsity: 0.8,
  every: 10,
  scope: 'global',
};

/** Mean density the masks really hold over optimiser steps 0..T−1. */
function stepwiseDensity(cfg: PruningConfig, T: number): number {
  let sum = 0;
  for (let t = 0; t < T; t++) sum += 1 - maskSparsityAt(cfg, t, T);
  return sum / T;
}

describe('pruning schedule', () => {
  it('cubic: s_i before start, s_f exactly at end, Zhu & Gupta in between', () => {
    const T = 1000;
    assert.deepEqual(pruneWindow(cubic, T), { t0: 250, t1: 750 });
    assert.equal(sparsityAt(cubic, 0, T), 0);
    assert.equal(sparsityAt(cubic, 250, T), 0);
    assert.equal(sparsityAt(cubic, 750, T), 0.8);
    assert.equal(sparsityAt(cubic, 999, T), 0.8);
    // halfway: s_f + (s_i − s_f)·(1/2)³ = 0.8 − 0.8/8 = 0.7
    assert.ok(Math.abs(sparsityAt(cubic, 500, T) - 0.7) < 1e-12);
    for (let t = 1; t < T; t++) assert.ok(sparsityAt(cubic, t, T) >= sparsityAt(cubic, t - 1, T));
  });

  it('prunes every `every` steps inside [t0, t1] and exactly at t1', () => {
    const T = 1003; // t0 = 251, t1 = 752: t1 − t0 is not a multiple of every
    const { t0, t1 } = pruneWindow(cubic, T);
    const steps = [...Array(T).keys()].filter((t) => isPruneStep(cubic, t, T));
    assert.equal(steps[0], t0);
    assert.equal(steps[steps.length - 1], t1);
    assert.ok(steps.slice(0, -1).every((t) => (t - t0) % 10 === 0));
    assert.equal(steps.length, Math.floor((t1 - t0) / 10) + 2);
    assert.equal(maskSparsityAt(cubic, t1, T), 0.8);
    assert.equal(maskSparsityAt(cubic, t1 - 1, T), sparsityAt(cubic, t0 + 50 * 10, T));
  });

  it('end = 1 still reaches the final sparsity before the last optimiser step', () => {
    const cfg = { ...cubic, start: 0, end: 1 };
    const T = 100;
    assert.equal(pruneWindow(cfg, T).t1, 99);
    assert.ok(isPruneStep(cfg, 99, T));
    assert.equal(maskSparsityAt(cfg, 99, T), 0.8);
  });

  it('stepwise mean density matches the closed form within 1%', () => {
    const T = 1000;
    for (const cfg of [
      cubic,
      { ...cubic, schedule: 'linear' as const },
      { ...cubic, schedule: 'oneshot' as const },
      { ...cubic, every: 1 },
      { ...cubic, schedule: 'linear' as const, initialSparsity: 0.1, finalSparsity: 0.5, start: 0.1, end: 0.9 },
    ]) {
      const expected = expectedAverageDensity(cfg, T);
      const got = stepwiseDensity(cfg, T);
      assert.ok(Math.abs(got - expected) / expected < 0.01, `${cfg.schedule}/${cfg.every}: ${got} vs ${expected}`);
    }
    // Masks lag the curve by < every steps, so the gap is at most (every/T)·(s_f − s_i) in absolute terms.
    const coarse = { ...cubic, initialSparsity: 0.2, finalSparsity: 0.9, start: 0.1, end: 0.9, every: 25 };
    const gap = stepwiseDensity(coarse, T) - expectedAverageDensity(coarse, T);
    assert.ok(gap >= 0 && gap <= (25 / T) * 0.7, `gap ${gap}`);
    // By hand, cubic 25%→75% to 0.8: the window's mean sparsity is s_f + (s_i − s_f)/4 = 0.6, so
    // density = 1 − (500·0.6 + 250·0.8)/1000 = 0.5
    assert.ok(Math.abs(expectedAverageDensity(cubic, T) - 0.5) < 1e-12);
    assert.equal(expectedAverageDensity({ ...cubic, schedule: 'none' }, T), 1);
  });

  it('none never prunes; oneshot jumps at start', () => {
    const none = { ...cubic, schedule: 'none' as const };
    assert.equal(sparsityAt(none, 900, 1000), 0);
    assert.equal(isPruneStep(none, 250, 1000), false);
    const one = { ...cubic, schedule: 'oneshot' as const };
    assert.equal(sparsityAt(one, 249, 1000), 0);
    assert.equal(sparsityAt(one, 250, 1000), 0.8);
    const steps = [...Array(1000).keys()].filter((t) => isPruneStep(one, t, 1000));
    assert.deepEqual(steps, [250]);
  });
});

function zeros(m: tf.Tensor): number {
  return Array.from(m.dataSync()).filter((x) => x === 0).length;
}

describe('updateMasks', () => {
  it('exact counts, nested, and a pruned weight never comes back', () => {
    const before = tf.memory().numTensors;
    let data = [Array.from({ length: 60 }, (_, i) => Math.sin(i * 1.7) * (i + 1)), Array.from({ length: 40 }, (_, i) => Math.cos(i))];
    let masks: tf.Tensor[] | null = null;
    for (const s of [0.1, 0.3, 0.55, 0.8]) {
      const weights = [tf.tensor2d(data[0], [6, 10]), tf.tensor2d(data[1], [4, 10])];
      const next = updateMasks(weights, masks, s, 'global');
      assert.equal(next[0].dtype, 'float32');
      assert.deepEqual(next[0].shape, [6, 10]);
      assert.equal(zeros(next[0]) + zeros(next[1]), Math.round(s * 100));
      if (masks !== null) {
        for (let l = 0; l < 2; l++) {
          const o = masks[l].dataSync();
          const n = next[l].dataSync();
          for (let i = 0; i < o.length; i++) assert.ok(n[i] <= o[i], 'masks must be nested');
        }
        masks.forEach((m) => m.dispose());
      }
      // The trainer zeroes pruned weights, but make the pruned ones huge: they must stay pruned.
      data = data.map((d, l) => {
        const m = next[l].dataSync();
        return d.map((x, i) => (m[i] === 0 ? 1e6 : x * 0.9));
      });
      weights.forEach((w) => w.dispose());
      masks = next;
    }
    masks?.forEach((m) => m.dispose());
    assert.equal(tf.memory().numTensors, before);
  });

  it('prunes the smallest magnitudes, ties broken by position', () => {
    const w = tf.tensor1d([0.5, -0.1, 3, 0.2, -2, 0.1]);
    const [m] = updateMasks([w], null, 0.5, 'layer');
    // |w| = .5 .1 3 .2 2 .1 → the three smallest are .1 (idx 1), .1 (idx 5), .2 (idx 3)
    assert.deepEqual(Array.from(m.dataSync()), [1, 0, 1, 0, 1, 0]);
    const ties = tf.ones([2, 4]);
    const [t] = updateMasks([ties], null, 0.25, 'layer');
    assert.deepEqual(Array.from(t.dataSync()), [0, 0, 1, 1, 1, 1, 1, 1]);
    tf.dispose([w, m, ties, t]);
  });

  it('global and layer scope differ as expected', () => {
    const big = tf.range(10, 20); // 10..19
    const small = tf.tensor1d([...Array(10).keys()].map((i) => (i + 1) / 100)); // 0.01..0.10
    const [gb, gs] = updateMasks([big, small], null, 0.5, 'global');
    assert.equal(zeros(gb), 0); // global: all ten zeros land on the small layer
    assert.equal(zeros(gs), 10);
    const [lb, ls] = updateMasks([big, small], null, 0.5, 'layer');
    assert.equal(zeros(lb), 5);
    assert.equal(zeros(ls), 5);
    assert.deepEqual(Array.from(lb.dataSync()), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    tf.dispose([big, small, gb, gs, lb, ls]);
  });

  it('keeps old zeros when asked for less sparsity, and validates input', () => {
    const w = tf.tensor1d([1, 2, 3, 4]);
    const old = tf.tensor1d([0, 0, 1, 1]);
    const [m] = updateMasks([w], [old], 0.25, 'layer');
    assert.deepEqual(Array.from(m.dataSync()), [0, 0, 1, 1]);
    assert.throws(() => updateMasks([w], null, 1.5, 'layer'), /sparsity/);
    const [all] = updateMasks([w], null, 1, 'global');
    assert.equal(zeros(all), 4);
    tf.dispose([w, old, m, all]);
  });
});
