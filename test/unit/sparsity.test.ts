// Activation-sparsity metrics on hand-built layers whose ratios are known in closed form.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LayerStats } from '../../engine/sparsity/layerStats';
import { measureSparsity, parseMetric, PPL_TOLERANCE } from '../../engine/sparsity/metrics';
import type { FfnCapture, SparsityProbe } from '../../engine/sparsity/probe';
import { gauss, rng } from './seededRandom';

interface Layer {
  h: number[][]; // [T][F]
  w: number[][]; // [F][D]
}

/** A probe over fixed layers; the loss is a caller-given function of the thresholds. */
class FakeProbe implements SparsityProbe {
  calls = 0;
  captures = 0;
  constructor(
    readonly spec: Layer[],
    readonly denseLoss: number,
    readonly lossFn: (thresholds: number[]) => number,
  ) {}
  get layers(): number {
    return this.spec.length;
  }
  capture(): { loss: number; layers: FfnCapture[] } {
    this.captures++;
    return {
      loss: this.denseLoss,
      layers: this.spec.map((l) => ({ h: tf.tensor2d(l.h), wDown: tf.tensor2d(l.w) })),
    };
  }
  lossWithThresholds(thresholds: number[]): number {
    this.calls++;
    return this.lossFn(thresholds);
  }
}

const diag = (xs: number[]): number[][] => xs.map((x, i) => xs.map((_, j) => (i === j ? x : 0)));
const close = (a: number, b: number, tol = 1e-6, what = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

// Layer A: W_down = diag(1, 2, 3, 0.5), so the neuron outputs are orthogonal and the tail error of a set
// of dropped neurons is sqrt(Σ c²) / sqrt(Σ_all c²). Contributions c = |h|·‖W_down[i,:]‖:
//   token 0: h = [1, 0, −0.5, 0.02]   → c = [1, 0, 1.5, 0.01]    Σc² = 3.2501
//   token 1: h = [0, 0.005, 2, −1]    → c = [0, 0.01, 6, 0.5]    Σc² = 36.2501
const layerA: Layer = {
  h: [
    [1, 0, -0.5, 0.02],
    [0, 0.005, 2, -1],
  ],
  w: diag([1, 2, 3, 0.5]),
};
// Layer B: dead (all h = 0).
const layerB: Layer = { h: [[0, 0, 0, 0], [0, 0, 0, 0]], w: diag([1, 1, 1, 1]) };

const S0 = 3.2501;
const S1 = 36.2501;
// Pooled contributions sorted: 0 0 | 0.01 0.01 | 0.5 | 1 | 1.5 | 6. Mean CETT after dropping all c < τ:
const cettAfter = {
  zeros: 0, // 6 of 8 active
  tiny: (Math.sqrt(0.0001 / S0) + Math.sqrt(0.0001 / S1)) / 2, // ≈ 0.0036, 4 of 8 active
  half: (Math.sqrt(0.0001 / S0) + Math.sqrt(0.2501 / S1)) / 2, // ≈ 0.0443, 3 of 8 active
  one: (Math.sqrt(1.0001 / S0) + Math.sqrt(0.2501 / S1)) / 2, // ≈ 0.319, 2 of 8 active
  oneHalf: (1 + Math.sqrt(0.2501 / S1)) / 2, // ≈ 0.5415, 1 of 8 active
};

describe('parseMetric', () => {
  it('accepts the stored names', () => {
    assert.deepEqual(parseMetric('exact'), { name: 'exact', kind: 'exact' });
    assert.deepEqual(parseMetric('fat-0.01'), { name: 'fat-0.01', kind: 'fat', eps: 0.01 });
    assert.deepEqual(parseMetric('topk-0.1'), { name: 'topk-0.1', kind: 'topk', ratio: 0.1 });
    assert.deepEqual(parseMetric('cett-0.2'), { name: 'cett-0.2', kind: 'cett', cett: 0.2 });
    assert.deepEqual(parseMetric('ppl-1%'), { name: 'ppl-1%', kind: 'ppl', percent: 1 });
    assert.deepEqual(parseMetric('ppl-0.5%'), { name: 'ppl-0.5%', kind: 'ppl', percent: 0.5 });
    assert.deepEqual(parseMetric('fat-1e-3'), { name: 'fat-1e-3', kind: 'fat', eps: 0.001 });
  });
  it('names the bad metric', () => {
    for (const bad of ['Exact', 'fat', 'fat-', 'fat--1', 'topk-0', 'topk-1.5', 'cett-2', 'ppl-1', 'ppl-x%', 'l1', 'fat-0.01 ']) {
      assert.throws(() => parseMetric(bad), (e: Error) => e.message.includes(`"${bad}"`), bad);
    }
  });
});

describe('measureSparsity on hand-built layers', () => {
  const probe = () => new FakeProbe([layerA, layerB], 2, () => 2);

  it('exact, FAT, Top-k and CETT match the closed forms; the model value is the layer mean', () => {
    const before = tf.memory().numTensors;
    const p = probe();
    const r = measureSparsity(
      p,
      ['exact', 'fat-0.01', 'topk-0.5', 'topk-1', 'cett-0', 'cett-0.01', 'cett-0.2', 'cett-0.4', 'cett-1'],
      'exact',
    );
    assert.equal(tf.memory().numTensors, before, 'capture tensors are disposed');
    assert.equal(p.captures, 1);
    assert.equal(p.calls, 0, 'only ppl-p% runs the model');
    const layer = (metric: string, l: number) => r.layers.find((x) => x.metric === metric && x.layer === l)?.activationRatio;
    const model = (metric: string) => r.metrics.find((x) => x.metric === metric);

    // exact: 3 + 3 non-zeros of 8
    assert.equal(layer('exact', 0), 6 / 8);
    assert.equal(layer('exact', 1), 0);
    assert.equal(model('exact')?.activationRatio, 6 / 16);
    // FAT-0.01: |h| > 0.01 → token 0: 1, 0.5, 0.02; token 1: 2, 1 (0.005 is below)
    assert.equal(layer('fat-0.01', 0), 5 / 8);
    assert.deepEqual(model('fat-0.01')?.detail, { threshold: 0.01 });
    // Top-k, k = 2: keeps {1.5, 1} and {6, 0.5}; the tail is {0, 0.01} in both tokens.
    assert.equal(layer('topk-0.5', 0), 4 / 8);
    assert.equal(layer('topk-0.5', 1), 0, 'zero contributions are not active even inside the top k');
    close(model('topk-0.5')?.detail?.cett ?? NaN, cettAfter.tiny / 2, 1e-6, 'topk tail error (layer B counts 0)');
    assert.equal(model('topk-0.5')?.detail?.nominal, 0.5);
    // k = 4 = dFF: only the 3 + 3 neurons with c > 0 count.
    assert.equal(layer('topk-1', 0), 6 / 8);
    // CETT: the largest cut whose mean CETT ≤ v.
    assert.equal(layer('cett-0', 0), 6 / 8, 'cett-0 drops only exact zeros');
    assert.equal(layer('cett-0.01', 0), 4 / 8); // 0.0036 ≤ 0.01 < 0.0443
    assert.equal(layer('cett-0.2', 0), 3 / 8); // 0.0443 ≤ 0.2 < 0.319
    assert.equal(layer('cett-0.4', 0), 2 / 8); // 0.319 ≤ 0.4 < 0.5415
    assert.equal(layer('cett-1', 0), 0);
    close(model('cett-0.2')?.detail?.achieved ?? NaN, cettAfter.half / 2, 1e-6, 'achieved CETT');
    for (const m of ['cett-0', 'cett-0.2', 'cett-1']) assert.equal(layer(m, 1), 0, `${m}: dead layer is inactive`);
    // Dead neurons (by exact: ReLU-like zeros): none in layer A, all four in layer B.
    assert.equal(r.deadRatio, 4 / 8);
    assert.deepEqual(
      r.metrics.map((m) => m.metric),
      ['exact', 'fat-0.01', 'topk-0.5', 'topk-1', 'cett-0', 'cett-0.01', 'cett-0.2', 'cett-0.4', 'cett-1'],
    );
  });

  it('LayerStats exposes the exact CETT curve and thresholds between contributions', () => {
    const a = layerA;
    const s = new LayerStats(Float32Array.from(a.h.flat()), Float32Array.from(a.w.flat()), 2, 4, 4);
    const c = s.cutForCett(0.2);
    assert.equal(c.k, 5);
    close(c.cett, cettAfter.half, 1e-6, 'cett at k=5');
    close(c.tau, 0.75, 1e-6, 'τ halfway between 0.5 and 1');
    close(s.cutForCett(0.5).cett, cettAfter.one, 1e-6, 'cett at k=6');
    close(s.cutForCett(0.6).cett, cettAfter.oneHalf, 1e-6, 'cett at k=7');
    close(s.cutForCett(0.0036).tau, 0.005, 1e-6, 'τ between 0 and 0.01');
  });

  it('with a token sample for the curve, ratios still count every token', () => {
    const a = layerA;
    const s = new LayerStats(Float32Array.from(a.h.flat()), Float32Array.from(a.w.flat()), 2, 4, 4, 1);
    const none = s.cutForCett(0); // token 0 only: drops its one zero, keeps c ≥ 0.01
    assert.equal(none.activeFrom, Math.fround(0.01));
    assert.equal(s.activationRatio(none), 6 / 8);
    const all = s.cutForCett(1);
    assert.equal(all.tau, 12, 'τ above the largest contribution of any token (6), not only of the sample');
    assert.equal(s.activationRatio(all), 0);
  });

  it('appends the primary metric and uses its rule for dead neurons when not ReLU-like', () => {
    const r = measureSparsity(probe(), ['exact'], 'fat-0.01', { activation: 'silu' });
    assert.deepEqual(r.metrics.map((m) => m.metric), ['exact', 'fat-0.01']);
    // FAT-0.01 per neuron in layer A: n0 1 token, n1 0 tokens (0.005), n2 2, n3 2 → 1 dead; layer B 4 dead
    assert.equal(r.deadRatio, 5 / 8);
  });

  it('rejects bad names before running the model', () => {
    const p = probe();
    assert.throws(() => measureSparsity(p, ['exact', 'topk-2'], 'exact'), /"topk-2"/);
    assert.equal(p.captures, 0);
  });
});

// Seeded random layers for PPL-p%.
function randomLayer(r: () => number, T: number, F: number, D: number, act: (x: number) => number): Layer {
  return {
    h: Array.from({ length: T }, () => Array.from({ length: F }, () => act(gauss(r)))),
    w: Array.from({ length: F }, () => Array.from({ length: D }, () => gauss(r) / Math.sqrt(D))),
  };
}
const relu = (x: number) => Math.max(0, x);
const silu = (x: number) => x / (1 + Math.exp(-x));

/** Fraction of the total contribution mass below each layer's threshold: a known monotone loss. */
function droppedMass(layers: Layer[]): (thresholds: number[]) => number {
  const contribs = layers.map((l) => {
    const norms = l.w.map((row) => Math.fround(Math.hypot(...row)));
    return l.h.flatMap((row) => row.map((x, i) => Math.abs(x) * norms[i]));
  });
  return (th) => {
    let sum = 0;
    contribs.forEach((cs, l) => {
      const total = cs.reduce((a, b) => a + b, 0);
      sum += total === 0 ? 0 : cs.filter((c) => c < th[l]).reduce((a, b) => a + b, 0) / total;
    });
    return sum / contribs.length;
  };
}

describe('PPL-p%', () => {
  const r = rng(7);
  const reluLayers = [randomLayer(r, 64, 32, 8, relu), randomLayer(r, 64, 32, 8, relu)];
  const siluLayers = [randomLayer(r, 64, 32, 8, silu), randomLayer(r, 64, 32, 8, silu)];
  const L0 = 3;
  const beta = 0.2; // dropping everything multiplies perplexity by e^0.2 ≈ 1.22
  const makeProbe = (layers: Layer[]) => {
    const mass = droppedMass(layers);
    return new FakeProbe(layers, L0, (th) => L0 + beta * mass(th));
  };

  it('reaches the target perplexity ratio within 0.05 pp, calling capture once', () => {
    for (const layers of [reluLayers, siluLayers]) {
      const p = makeProbe(layers);
      const res = measureSparsity(p, ['ppl-1%', 'ppl-5%', 'cett-0.2'], 'ppl-1%');
      assert.equal(p.captures, 1);
      for (const [name, target] of [
        ['ppl-1%', 1.01],
        ['ppl-5%', 1.05],
      ] as const) {
        const m = res.metrics.find((x) => x.metric === name);
        const d = m?.detail ?? {};
        assert.ok(Math.abs(d.pplRatio - target) <= PPL_TOLERANCE, `${name}: ratio ${d.pplRatio}`);
        assert.equal(d.converged, 1);
        assert.ok(d.cett > 0 && d.cett < 1);
        // The reported ratio is the one the probe really gives at those thresholds.
        const perLayer = res.layers.filter((x) => x.metric === name).map((x) => x.activationRatio);
        close(m?.activationRatio ?? NaN, (perLayer[0] + perLayer[1]) / 2, 1e-12, 'model = layer mean');
      }
      const r1 = res.metrics.find((x) => x.metric === 'ppl-1%')?.activationRatio ?? NaN;
      const r5 = res.metrics.find((x) => x.metric === 'ppl-5%')?.activationRatio ?? NaN;
      assert.ok(r5 <= r1, 'a larger budget never keeps more neurons');
      assert.ok(p.calls < 40, `search cost ${p.calls} forward passes`);
    }
  });

  it('for ReLU, ppl-1% ≤ exact; ppl-0% is the dense point (= exact)', () => {
    const res = measureSparsity(makeProbe(reluLayers), ['exact', 'ppl-1%', 'ppl-0%'], 'exact');
    const get = (n: string) => res.metrics.find((x) => x.metric === n);
    const exact = get('exact')?.activationRatio ?? NaN;
    assert.ok(exact > 0.3 && exact < 0.7);
    assert.ok((get('ppl-1%')?.activationRatio ?? NaN) <= exact);
    assert.ok((get('ppl-1%')?.activationRatio ?? NaN) < exact, 'dropping is needed to cost 1%');
    assert.equal(get('ppl-0%')?.activationRatio, exact);
    assert.equal(get('ppl-0%')?.detail?.cett, 0);
    assert.equal(get('ppl-0%')?.detail?.pplRatio, 1);
  });

  it('reports v = 1, not converged, when even dropping everything stays below the target', () => {
    const res = measureSparsity(makeProbe(siluLayers), ['ppl-50%'], 'ppl-50%');
    const d = res.metrics[0].detail ?? {};
    assert.equal(d.cett, 1);
    assert.equal(d.converged, 0);
    assert.equal(res.metrics[0].activationRatio, 0);
  });

  it('a diverged model (NaN loss) stops the search at once', () => {
    const p = new FakeProbe(siluLayers, NaN, () => NaN);
    const res = measureSparsity(p, ['ppl-1%', 'exact', 'exact'], 'ppl-1%');
    assert.deepEqual(res.metrics.map((m) => m.metric), ['ppl-1%', 'exact']);
    assert.equal(res.metrics[0].detail?.converged, 0);
    assert.ok(p.calls <= 1);
  });

  it('an all-zero model: every metric says 0, nothing crashes', () => {
    const dead = [layerB, layerB];
    const res = measureSparsity(new FakeProbe(dead, 1, () => 1), ['exact', 'topk-0.5', 'cett-0.2', 'ppl-1%'], 'ppl-1%');
    for (const m of res.metrics) assert.equal(m.activationRatio, 0, m.metric);
    assert.equal(res.metrics[3].detail?.converged, 0);
    assert.equal(res.deadRatio, 1);
  });
});

/** A real two-layer ReLU/SiLU residual MLP in tfjs, thresholds applied the way the models apply them. */
class TinyMlpProbe implements SparsityProbe {
  readonly layers = 2;
  constructor(
    readonly act: (x: tf.Tensor) => tf.Tensor,
    readonly x: tf.Tensor2D,
    public y: tf.Tensor2D,
    readonly wIn: tf.Tensor2D[],
    readonly wDown: tf.Tensor2D[],
  ) {}
  private forward(thresholds: number[] | null, keep: tf.Tensor2D[] | null): tf.Scalar {
    let z: tf.Tensor2D = this.x;
    for (let l = 0; l < this.layers; l++) {
      let h = this.act(tf.matMul(z, this.wIn[l])) as tf.Tensor2D;
      if (keep !== null) keep.push(tf.keep(h));
      if (thresholds !== null) {
        const c = tf.mul(tf.abs(h), tf.norm(this.wDown[l], 'euclidean', 1));
        h = tf.mul(h, tf.cast(tf.greaterEqual(c, thresholds[l]), 'float32'));
      }
      z = tf.add(z, tf.matMul(h, this.wDown[l]));
    }
    return tf.mean(tf.square(tf.sub(z, this.y))) as tf.Scalar;
  }
  capture(): { loss: number; layers: FfnCapture[] } {
    const hs: tf.Tensor2D[] = [];
    const loss = tf.tidy(() => this.forward(null, hs).dataSync()[0]);
    return { loss, layers: hs.map((h, l) => ({ h, wDown: tf.clone(this.wDown[l]) })) };
  }
  lossWithThresholds(thresholds: number[]): number {
    return tf.tidy(() => this.forward(thresholds, null).dataSync()[0]);
  }
}

describe('measureSparsity through a real tfjs model', () => {
  it('ReLU: ppl-1% converges, ≤ exact, cett-0 costs nothing, no tensor leaks', () => {
    const before = tf.memory().numTensors;
    const r = rng(11);
    const t2 = (rows: number, cols: number, scale: number) =>
      tf.tensor2d(Array.from({ length: rows }, () => Array.from({ length: cols }, () => gauss(r) * scale)));
    const [T, d, F] = [256, 16, 64];
    const x = t2(T, d, 1);
    const noise = t2(T, d, 0.1);
    const wIn = [t2(d, F, 1 / Math.sqrt(d)), t2(d, F, 1 / Math.sqrt(d))];
    const wDown = [t2(F, d, 1 / Math.sqrt(F)), t2(F, d, 1 / Math.sqrt(F))];
    for (const [act, isRelu] of [
      [(v: tf.Tensor) => tf.relu(v), true],
      [(v: tf.Tensor) => tf.mul(v, tf.sigmoid(v)), false],
    ] as const) {
      // A "trained" model: the target is its own dense output plus a little noise.
      const probe = new TinyMlpProbe(act, x, noise, wIn, wDown);
      const dense = tf.tidy(() => {
        let z: tf.Tensor2D = x;
        for (let l = 0; l < 2; l++) z = tf.add(z, tf.matMul(act(tf.matMul(z, wIn[l])) as tf.Tensor2D, wDown[l]));
        return tf.add(z, noise) as tf.Tensor2D;
      });
      probe.y = dense;
      const res = measureSparsity(probe, ['exact', 'cett-0', 'ppl-1%'], 'ppl-1%', {
        activation: isRelu ? 'relu' : 'silu',
      });
      const get = (n: string) => res.metrics.find((m) => m.metric === n);
      const ppl = get('ppl-1%')?.detail ?? {};
      assert.equal(ppl.converged, 1, JSON.stringify(res.metrics));
      if (process.env.SPARSITY_DEBUG) console.error(JSON.stringify(res.metrics));
      assert.ok(Math.abs(ppl.pplRatio - 1.01) <= PPL_TOLERANCE);
      if (isRelu) {
        const exact = get('exact')?.activationRatio ?? NaN;
        assert.equal(get('cett-0')?.activationRatio, exact);
        assert.ok((get('ppl-1%')?.activationRatio ?? NaN) < exact);
      } else {
        assert.equal(get('exact')?.activationRatio, 1);
        assert.ok((get('ppl-1%')?.activationRatio ?? NaN) < 1);
      }
      dense.dispose();
    }
    tf.dispose([x, noise, ...wIn, ...wDown]);
    assert.equal(tf.memory().numTensors, before);
  });
});
