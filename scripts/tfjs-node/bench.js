#!/usr/bin/env node
// Side-by-side speed of the native 'tensorflow' backend (tfjs-node side install, see install.sh)
// against 'wasm' (and numerics against 'cpu'), in one process on the project's tfjs-core.
//   node scripts/tfjs-node/bench.js            # uses .sparsity/tfjs-node unless NODE_PATH finds one
// Env: BENCH_MS (min time per measurement, default 1500), TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS.
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const root = path.resolve(__dirname, '../..');
const req = require('module').createRequire(path.join(root, 'package.json'));
process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL || '2';

const threads = () => fs.readdirSync('/proc/self/task').length;
const th0 = threads();
const tf = req('@tensorflow/tfjs-core');
req('@tensorflow/tfjs-backend-cpu');
req('@tensorflow/tfjs-backend-wasm');
const t0 = Date.now();
let nodePkg;
try { nodePkg = req.resolve('@tensorflow/tfjs-node'); } catch { nodePkg = path.join(root, '.sparsity/tfjs-node/node_modules/@tensorflow/tfjs-node'); }
req(nodePkg);
const loadMs = Date.now() - t0;
const MIN_MS = +(process.env.BENCH_MS || 1500);

async function timeit(fn, warm = 3) {
  for (let i = 0; i < warm; i++) await fn();
  let n = 0; const s = process.hrtime.bigint(); let el = 0;
  while (el < MIN_MS || n < 5) { await fn(); n++; el = Number(process.hrtime.bigint() - s) / 1e6; }
  return el / n;
}

const MLP_FLOP = 3 * 2 * 128 * (256 * 1024 + 1024 * 256); // fwd + bwd ≈ 3× the forward matmuls
const gflops = (flop, ms) => +(flop / (ms / 1e3) / 1e9).toFixed(2);

async function benchBackend(name) {
  await tf.setBackend(name); await tf.ready();
  const A = tf.randomNormal([512, 512]), B = tf.randomNormal([512, 512]);
  const mm = await timeit(async () => { const c = tf.matMul(A, B); await c.data(); c.dispose(); });

  // 256 -> 1024 -> 256 ReLU MLP, batch 128, MSE loss.
  const W1 = tf.variable(tf.randomNormal([256, 1024], 0, 0.05)), b1 = tf.variable(tf.zeros([1024]));
  const W2 = tf.variable(tf.randomNormal([1024, 256], 0, 0.05)), b2 = tf.variable(tf.zeros([256]));
  const X = tf.randomNormal([128, 256]), Y = tf.randomNormal([128, 256]);
  // (a) autodiff: tf.variableGrads
  const autodiff = await timeit(async () => {
    const { value, grads } = tf.variableGrads(() => {
      const h = tf.relu(tf.add(tf.matMul(X, W1), b1));
      return tf.mean(tf.square(tf.sub(tf.add(tf.matMul(h, W2), b2), Y)));
    });
    await value.data(); for (const k in grads) await grads[k].data();
    value.dispose(); tf.dispose(grads);
  });
  // (b) hand-written backward (matMul with transpose flags), the style engine uses.
  const manual = await timeit(async () => {
    const out = tf.tidy(() => {
      const z = tf.add(tf.matMul(X, W1), b1), h = tf.relu(z);
      const o = tf.add(tf.matMul(h, W2), b2);
      const d = tf.mul(tf.sub(o, Y), 2 / (128 * 256));
      const dW2 = tf.matMul(h, d, true, false), db2 = tf.sum(d, 0);
      const dh = tf.mul(tf.matMul(d, W2, false, true), tf.step(z));
      const dW1 = tf.matMul(X, dh, true, false), db1 = tf.sum(dh, 0);
      return [dW1, db1, dW2, db2];
    });
    for (const t of out) await t.data();
    tf.dispose(out);
  });
  const info = {
    backend: name,
    matMul512_ms: +mm.toFixed(3), matMul512_GFLOPs: gflops(2 * 512 ** 3, mm),
    mlp_variableGrads_ms: +autodiff.toFixed(3), mlp_variableGrads_GFLOPs: gflops(MLP_FLOP, autodiff),
    mlp_manualBwd_ms: +manual.toFixed(3), mlp_manualBwd_GFLOPs: gflops(MLP_FLOP, manual),
    threadsInProcess: threads(),
  };
  if (name === 'wasm') {
    info.wasmMultithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    info.wasmSimd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  }
  tf.dispose([A, B, W1, b1, W2, b2, X, Y]);
  return info;
}

async function numerics() {
  const xs = Array.from({ length: 2 * 8 * 8 * 16 }, (_, i) => Math.sin(i));
  const ks = Array.from({ length: 3 * 3 * 16 * 4 }, (_, i) => Math.cos(i) * 0.1);
  const res = {};
  for (const name of ['tensorflow', 'cpu']) {
    await tf.setBackend(name);
    const x = tf.tensor4d(xs, [2, 8, 8, 16]), k = tf.tensor4d(ks, [3, 3, 16, 4]);
    const W = tf.variable(tf.tensor2d(xs.slice(0, 16 * 8), [16, 8]), true, 'W_' + name);
    const conv = tf.conv2d(x, k, 1, 'same');
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.relu(tf.matMul(tf.reshape(x, [128, 16]), W))), [W]);
    const gk = tf.grad((kk) => tf.sum(tf.square(tf.conv2d(x, kk, 1, 'same'))))(k);
    const gx = tf.grad((xx) => tf.sum(tf.square(tf.conv2d(xx, k, 1, 'same'))))(x);
    const mm = tf.matMul(tf.reshape(x, [64, 32]), tf.reshape(x, [32, 64]));
    res[name] = { matMul: await mm.data(), conv2d: await conv.data(), variableGradsLoss: await value.data(),
      variableGradsW: await grads[W.name].data(), conv2dGradFilter: await gk.data(), conv2dGradInput: await gx.data() };
  }
  const maxRel = (a, b) => { let m = 0, s = 0; for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); } return +(m / (s || 1)).toExponential(2); };
  const out = {};
  for (const k in res.cpu) out[k] = maxRel(res.tensorflow[k], res.cpu[k]);
  return out;
}

(async () => {
  await tf.setBackend('tensorflow');
  console.log(JSON.stringify({
    tfjsNode: path.relative(root, nodePkg), TF_Version: tf.backend().binding.TF_Version, loadMs, cpus: os.cpus().length,
    threadsBeforeTf: th0, intraOpEnv: process.env.TF_NUM_INTRAOP_THREADS || '(default: #cores)',
  }));
  console.log(JSON.stringify({ maxRelErr_tensorflow_vs_cpu: await numerics() }));
  const runs = [];
  for (const name of ['tensorflow', 'wasm', 'tensorflow', 'wasm']) runs.push(await benchBackend(name));
  for (const r of runs) console.log(JSON.stringify(r));
  const best = (b, k) => Math.min(...runs.filter((r) => r.backend === b).map((r) => r[k]));
  const ratio = (k) => +(best('wasm', k) / best('tensorflow', k)).toFixed(2);
  console.log(JSON.stringify({ speedup_tensorflow_over_wasm_bestOf2: {
    matMul512: ratio('matMul512_ms'), mlp_variableGrads: ratio('mlp_variableGrads_ms'), mlp_manualBwd: ratio('mlp_manualBwd_ms') } }));
})();
