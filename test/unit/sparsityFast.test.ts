// The fast measurement path (wasm SIMD curve kernel, typed-array counts) against the frozen pre-speed-up
// implementation in test/reference/sparsity/, on random layers: same cuts, same thresholds, same
// ratios and dead-neuron counts; CETT values equal up to float rounding.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { prefixNormsJs, prefixNormsWasm, wasmKernel } from '../../engine/sparsity/curveKernel';
import { LayerStats } from '../../engine/sparsity/layerStats';
import { measureSparsity } from '../../engine/sparsity/metrics';
import type { FfnCapture, SparsityProbe } from '../../engine/sparsity/probe';
import { LayerStats as RefLayerStats } from '../reference/sparsity/layerStats';
import { measureSparsity as measureReference } from '../reference/sparsity/metrics';
import { gauss, rng } from './seededRandom';

const ACTS: Record<string, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  silu: (x) => x / (1 + Math.exp(-x)),
  // Ties and exact zeros: values on a coarse grid, a third of them zero.
  grid: (x) => (Math.abs(x) < 0.43 ? 0 : Math.round(x * 4) / 4),
};
function layer(r: () => number, T: number, F: number, D: number, act: (x: number) => number, deadRows = 0) {
  const h = new Float32Array(T * F).map(() => act(gauss(r)));
  const w = new Float32Array(F * D).map(() => gauss(r) / Math.sqrt(D));
  for (let i = 0; i < deadRows; i++) w.fill(0, i * D, (i + 1) * D); // neurons with ‖W_down[i,:]‖ = 0
  return { h, w };
}
const close = (a: number, b: number, what: string, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

// [T, F, D, curveTokens]: D % 4 = 0 takes the wasm kernel, odd D the JS loop; curveTokens < T samples.
const SHAPES: [number, number, number, number][] = [
  [48, 32, 8, 512],
  [40, 24, 5, 512],
  [64, 40, 12, 20],
  [1, 1, 4, 512],
];

describe('fast path = reference path on random layers', () => {
  it('the wasm kernel is available here and matches the JS loop to float rounding', () => {
    const k = wasmKernel();
    assert.ok(k !== null, 'WebAssembly SIMD kernel compiled');
    const r = rng(3);
    const [S, F, D] = [37, 29, 16];
    const w = new Float32Array(F * D).map(() => gauss(r));
    const order = new Uint32Array(S * F).map(() => Math.floor(r() * F));
    const hs = new Float64Array(S * F).map(() => (r() < 0.3 ? 0 : gauss(r)));
    const a = prefixNormsJs(w, F, D, order, hs, S);
    const b = prefixNormsWasm(k, w, F, D, order, hs, S);
    for (let x = 0; x < a.length; x++) close(b[x], a[x], `norm ${x}`, 1e-14);
  });

  for (const [act, fn] of Object.entries(ACTS)) {
    for (const [T, F, D, curveTokens] of SHAPES) {
      it(`LayerStats, ${act}, T=${T} F=${F} D=${D} curveTokens=${curveTokens}`, () => {
        const r = rng(T * 1000 + F * 10 + D);
        const { h, w } = layer(r, T, F, D, fn, F > 4 ? 2 : 0);
        const fast = new LayerStats(h, w, T, F, D, curveTokens);
        const ref = new RefLayerStats(h, w, T, F, D, curveTokens);
        for (const v of [0, 1e-4, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1]) {
          const a = fast.cutForCett(v);
          const b = ref.cutForCett(v);
          assert.equal(a.k, b.k, `cett ${v}: cut`);
          assert.equal(a.tau, b.tau, `cett ${v}: tau`);
          assert.equal(a.activeFrom, b.activeFrom, `cett ${v}: activeFrom`);
          close(a.cett, b.cett, `cett ${v}: achieved`);
          assert.equal(fast.activationRatio(a), ref.activationRatio(b), `cett ${v}: ratio`);
          assert.deepEqual(fast.activeCountsAt(a), ref.activeCountsAt(b), `cett ${v}: per-neuron counts`);
        }
        for (const k of [1, Math.ceil(F / 10), Math.ceil(F / 2), F]) {
          const a = fast.topK(k);
          const b = ref.topK(k);
          assert.equal(a.ratio, b.ratio, `topk ${k}: ratio`);
          close(a.cett, b.cett, `topk ${k}: cett`);
          assert.deepEqual(a.perNeuron, b.perNeuron, `topk ${k}: per neuron`);
        }
        assert.equal(fast.maxContribution(), ref.maxContribution());
        for (const eps of [null, 0, 0.01, 0.5]) {
          const a = fast.countAbove(eps);
          const b = ref.countActive(eps === null ? (x) => x !== 0 : (x) => Math.abs(x) > eps);
          assert.equal(a.ratio, b.ratio, `rule ${eps}`);
          assert.deepEqual(a.perNeuron, b.perNeuron, `rule ${eps}: per neuron`);
        }
      });
    }
  }

  it('measureSparsity: every metric, dead ratio and PPL search agree', () => {
    const r = rng(99);
    const spec = [layer(r, 96, 48, 12, ACTS.relu, 3), layer(r, 96, 48, 12, ACTS.relu)];
    const silu = [layer(r, 96, 48, 12, ACTS.silu), layer(r, 96, 48, 7, ACTS.silu)];
    for (const [layers, activation] of [
      [spec, 'relu'],
      [silu, 'silu'],
    ] as const) {
      const contribs = layers.map(({ h, w }) => {
        const F = h.length / 96;
        const D = w.length / F;
        const norms = Array.from({ length: F }, (_, i) => Math.fround(Math.hypot(...w.subarray(i * D, (i + 1) * D))));
        return Array.from(h, (x, k) => Math.abs(x) * norms[k % F]);
      });
      const lossFn = (th: number[]) =>
        3 + 0.3 * contribs.reduce((acc, cs, l) => acc + cs.filter((c) => c < th[l]).reduce((a, b) => a + b, 0) / cs.reduce((a, b) => a + b, 0), 0) / 2;
      const probe = (): SparsityProbe & { calls: number } => ({
        layers: 2,
        calls: 0,
        capture: () => ({
          loss: 3,
          layers: layers.map(({ h, w }): FfnCapture => {
            const F = h.length / 96;
            return { h: tf.tensor2d(h, [96, F]), wDown: tf.tensor2d(w, [F, w.length / F]) };
          }),
        }),
        lossWithThresholds(th) {
          this.calls++;
          return lossFn(th);
        },
      });
      const metrics = ['exact', 'fat-0.01', 'topk-0.1', 'topk-0.5', 'cett-0.2', 'cett-0', 'ppl-1%', 'ppl-5%'];
      for (const curveTokens of [512, 30]) {
        const pa = probe();
        const pb = probe();
        const a = measureSparsity(pa, metrics, 'ppl-1%', { activation, curveTokens });
        const b = measureReference(pb, metrics, 'ppl-1%', { activation, curveTokens });
        assert.equal(pa.calls, pb.calls, 'same forward passes');
        assert.equal(a.deadRatio, b.deadRatio);
        assert.deepEqual(a.layers, b.layers);
        a.metrics.forEach((m, i) => {
          const n = b.metrics[i];
          assert.equal(m.metric, n.metric);
          assert.equal(m.activationRatio, n.activationRatio, m.metric);
          for (const [key, x] of Object.entries(n.detail ?? {})) close(m.detail?.[key] ?? NaN, x, `${m.metric}.${key}`);
        });
      }
    }
  });
});
