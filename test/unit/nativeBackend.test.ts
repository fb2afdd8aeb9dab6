// The native-backend install decisions, GPU host helpers and backend selection, on a CPU-only
// host: GPU hosts are played by a fake `nvidia-smi` on PATH printing canned output (the formats
// of `nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader` and of
// plain `nvidia-smi`'s header). Nothing here downloads or builds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { assertOnGpu, BackendUnavailableError, describeDevice, requestedBackend, selectBackend } from '../../engine/backendSelect';
import { parseTfDeviceLog, queryNvidiaSmi, tf32Enabled } from '../../engine/device';
import { CUDA_CACHE_MAXSIZE, GpuSetupError, gpuSlotEnv, parseGpusFlag, planGpuInstall, TF_CUDA_BUILDS } from '../../stack/gpuPlan';
import { prepareGpuSlots } from '../../stack/gpuSlots';
import { acquireLock, ensureNativeBackend, missingPrerequisite, planNative, prepareNativeBackend } from '../../stack/nativeBackend';
import { nativeCandidates, projectRoot } from '../../stack/paths';
import { stillToFetch, unreachableSource } from '../../stack/installSources';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'sparsity-native-'));

/** A directory holding an `nvidia-smi` that prints `rows` for the query and a header naming `cuda`. */
function fakeNvidiaSmi(rows: string[], cuda: string | null): string {
  const dir = tmp();
  const header = [
    '+-----------------------------------------------------------------------------------------+',
    `| NVIDIA-SMI 560.35.03              Driver Version: 560.35.03      ${cuda ? `CUDA Version: ${cuda}` : ''}     |`,
    '|-----------------------------------------+------------------------+----------------------+',
  ].join('\n');
  writeFileSync(
    path.join(dir, 'nvidia-smi'),
    `#!/bin/sh\nif [ "$1" = "--query-gpu=index,name,memory.total,driver_version" ]; then\ncat <<'EOF'\n${rows.join('\n')}\nEOF\nelse\ncat <<'EOF'\n${header}\nEOF\nfi\n`,
  );
  chmodSync(path.join(dir, 'nvidia-smi'), 0o755);
  return dir;
}

const H200 = (i: number, driver: string) => `${i}, NVIDIA H200, 143771 MiB, ${driver}`;
const envWith = (binDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: `${binDir}:/usr/bin:/bin`, HOME: os.homedir(), ...extra });

test('nvidia-smi: GPUs, driver and CUDA version from the fake on PATH; null when there is none', () => {
  const bin = fakeNvidiaSmi([H200(0, '560.35.03'), H200(1, '560.35.03')], '12.6');
  const r = queryNvidiaSmi(envWith(bin));
  assert.deepEqual(r, {
    gpus: [
      { index: 0, name: 'NVIDIA H200', memoryMiB: 143771, driver: '560.35.03' },
      { index: 1, name: 'NVIDIA H200', memoryMiB: 143771, driver: '560.35.03' },
    ],
    driver: '560.35.03',
    cuda: '12.6',
  });
  assert.equal(queryNvidiaSmi({ PATH: tmp() }), null);
});

test('GPU install plan: the newest TensorFlow whose CUDA the driver fully supports', () => {
  const plan = (driver: string, cuda: string | null) => planGpuInstall({ gpus: [{ index: 0, name: 'NVIDIA H200', memoryMiB: 143771, driver }], driver, cuda });
  // Drivers at each toolkit's minimum (NVIDIA's table in gpuPlan.ts) select that toolkit's TF build.
  assert.equal(plan('560.35.03', '12.6').build.tensorflow, '2.19.1');
  assert.equal(plan('555.42.02', '12.5').build.tensorflow, '2.19.1');
  assert.equal(plan('550.54.15', '12.4').build.tensorflow, '2.17.1');
  assert.equal(plan('545.23.06', '12.3').build.tensorflow, '2.17.1');
  assert.equal(plan('535.104.05', '12.2').build.tensorflow, '2.15.1');
  // Without the header line the CUDA version comes from the driver table.
  const derived = plan('550.54.15', null);
  assert.equal(derived.driverCuda, '12.4');
  assert.equal(derived.build.tensorflow, '2.17.1');
  // Minor-version compatibility is not enough for PTX JIT: a 12.0 driver is refused.
  assert.throws(() => plan('525.60.13', '12.0'), (e: Error) => e instanceof GpuSetupError && /driver 525\.60\.13 .* too old.*535\.54\.03/.test(e.message));
  assert.throws(() => planGpuInstall(null), /nvidia-smi is not on PATH/);
  assert.throws(() => planGpuInstall({ gpus: [], driver: '', cuda: null }), /lists no GPU/);
  assert.throws(
    () => planGpuInstall({ gpus: [{ index: 0, name: 'x', memoryMiB: 1, driver: '550.54.15' }], driver: '550.54.15', cuda: '12.4' }, '2.19.1'),
    /SPARSITY_TF_VERSION=2\.19\.1 needs CUDA 12\.5 .* driver 550\.54\.15 supports CUDA 12\.4/,
  );
  assert.throws(() => plan('560.35.03', '12.6') && planGpuInstall({ gpus: [{ index: 0, name: 'x', memoryMiB: 1, driver: '560.35.03' }], driver: '560.35.03', cuda: '12.6' }, '2.99.0'), /GPU builds known/);
});

test('GPU install plan: every build pins the twelve CUDA wheels of tensorflow[and-cuda], no ranges', () => {
  for (const b of TF_CUDA_BUILDS) {
    const names = b.wheels.map((w) => w.split('==')[0]);
    assert.equal(new Set(names).size, 12, b.tensorflow);
    for (const lib of ['cudnn', 'cublas', 'cuda-runtime', 'cufft', 'curand', 'cusolver', 'cusparse', 'nccl', 'cuda-nvrtc', 'nvjitlink']) {
      assert.ok(names.includes(`nvidia-${lib}-cu12`), `${b.tensorflow} lacks ${lib}`);
    }
    for (const w of b.wheels) assert.match(w, /^nvidia-[a-z-]+-cu12==\d+(\.\d+)+$/);
    assert.ok(b.wheels.some((w) => w.startsWith(`nvidia-cudnn-cu12==${b.cudnn}`)), `${b.tensorflow}: cuDNN pin matches ${b.cudnn}`);
    assert.ok(b.wheels.some((w) => w.startsWith(`nvidia-cuda-runtime-cu12==${b.cuda}`)), `${b.tensorflow}: runtime pin matches CUDA ${b.cuda}`);
  }
});

test('dry run on a fake H200 host: what would be fetched and where, without downloading', async () => {
  const bin = fakeNvidiaSmi([H200(0, '550.54.15')], '12.4');
  const state = tmp();
  const cache = tmp();
  const plan = planNative({ variant: 'gpu', stateDir: state, cacheDir: cache, env: envWith(bin) });
  assert.equal(plan.tensorflow, '2.17.1');
  assert.equal(plan.wheels[0], 'tensorflow==2.17.1');
  assert.ok(plan.wheels.includes('nvidia-cudnn-cu12==8.9.7.29'));
  assert.equal(plan.cuda, '12.3');
  assert.equal(plan.libDir, path.join(cache, 'libtensorflow-gpu-2.17.1'));
  assert.equal(plan.packageDir, path.join(state, 'native', 'tfjs-node-gpu', 'node_modules', '@tensorflow', 'tfjs-node-gpu'));
  assert.deepEqual(plan.gpus, ['0: NVIDIA H200 (143771 MiB)']);

  const cpu = planNative({ variant: 'cpu', stateDir: state, cacheDir: cache, env: envWith(bin, { SPARSITY_TF_VERSION: '2.20.0' }) });
  assert.deepEqual(cpu.wheels, ['tensorflow-cpu==2.20.0']);

  // The dry run checks prerequisites too (this host has python3, pip, g++, make) and fetches nothing.
  const r = await ensureNativeBackend({ variant: 'gpu', stateDir: state, cacheDir: cache, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, dryRun: true });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(existsSync(plan.libDir), false);
  assert.equal(existsSync(plan.installDir), false);
});

test('refusals: GPU install without nvidia-smi, a driver too old; CPU install without g++', async () => {
  const noSmi = await ensureNativeBackend({ variant: 'gpu', stateDir: tmp(), cacheDir: tmp(), env: { PATH: tmp(), HOME: os.homedir() }, dryRun: true });
  assert.equal(noSmi.ok, false);
  assert.match(!noSmi.ok ? noSmi.reason : '', /^GPU backend requested but nvidia-smi is not on PATH/);

  const old = await ensureNativeBackend({ variant: 'gpu', stateDir: tmp(), cacheDir: tmp(), env: envWith(fakeNvidiaSmi([H200(0, '470.82.01')], '11.4')), dryRun: true });
  assert.match(!old.ok ? old.reason : '', /NVIDIA driver 470\.82\.01 \(CUDA 11\.4\) is too old/);

  // A PATH with python3 (and its pip) but no compiler.
  const bin = tmp();
  const py = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  symlinkSync(py, path.join(bin, 'python3'));
  const env = { PATH: bin, HOME: os.homedir() };
  assert.match(missingPrerequisite(env) ?? '', /^no C\+\+ compiler \(g\+\+\) found; install g\+\+ and make/);
  const r = await ensureNativeBackend({ variant: 'cpu', stateDir: tmp(), cacheDir: tmp(), env });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /no C\+\+ compiler \(g\+\+\) found/);
  assert.match(missingPrerequisite({ PATH: tmp() }) ?? '', /^no python3 found/);

  const off = await ensureNativeBackend({ variant: 'cpu', stateDir: tmp(), cacheDir: tmp(), env: { ...process.env, SPARSITY_NATIVE_INSTALL: '0' } });
  assert.match(!off.ok ? off.reason : '', /SPARSITY_NATIVE_INSTALL=0/);
});

/** pip and npm pointed at a port nothing listens on, with no pip config or local wheels to fall back on. */
const NO_REGISTRIES = { PIP_CONFIG_FILE: '/dev/null', PIP_FIND_LINKS: '', PIP_EXTRA_INDEX_URL: '', PIP_INDEX_URL: 'http://127.0.0.1:9/simple', npm_config_registry: 'http://127.0.0.1:9/' };

test('registries out of reach: the install fails in seconds naming what pip and npm could not get (not after their timeouts)', { skip: missingPrerequisite() ?? false }, async () => {
  for (const variant of ['cpu', 'gpu'] as const) {
    const env = { ...envWith(fakeNvidiaSmi([H200(0, '580.65.06')], '13.0')), ...NO_REGISTRIES };
    const t0 = performance.now();
    const r = await ensureNativeBackend({ variant, stateDir: tmp(), cacheDir: tmp(), env });
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(r.ok, false);
    const wheel = variant === 'gpu' ? 'tensorflow==2.19.1' : `tensorflow-cpu==${r.plan?.tensorflow}`;
    const pkg = variant === 'gpu' ? '@tensorflow/tfjs-node-gpu@4.22.0' : '@tensorflow/tfjs-node@4.22.0';
    assert.match(
      !r.ok ? r.reason : '',
      new RegExp(`^pip, as configured here, cannot get ${wheel.replace(/\./g, '\\.')} \\(Connection refused fetching /simple/tensorflow(-cpu)?/\\); npm, as configured here, cannot get ${pkg} \\(code ECONNREFUSED\\)\\. Point pip or npm at a mirror`),
    );
    assert.ok(seconds < 30, `${seconds.toFixed(1)} s`);
  }
});

test('what an install still fetches: nothing from PyPI once the per-machine cache holds the libraries, nothing from npm once it holds the package tree', () => {
  const cache = tmp();
  const target = { variant: 'cpu' as const, tensorflow: '2.15.1', libDir: path.join(cache, 'libtensorflow-cpu-2.15.1'), packageDir: path.join(tmp(), 'pkg'), npmTreeCache: path.join(cache, 'npm-tree'), tfjsNodeVersion: '4.22.0' };
  assert.deepEqual(stillToFetch(target), { pypi: { name: 'tensorflow-cpu', version: '2.15.1', size: '~200 MB' }, npm: '@tensorflow/tfjs-node@4.22.0' });
  mkdirSync(target.libDir, { recursive: true });
  writeFileSync(path.join(target.libDir, 'VERSION'), 'gpu/2.15.1\n');
  assert.notEqual(stillToFetch(target).pypi, null, 'libraries of the other variant do not count');
  writeFileSync(path.join(target.libDir, 'VERSION'), 'cpu/2.15.1\n');
  mkdirSync(path.join(target.npmTreeCache, 'node_modules', '@tensorflow', 'tfjs-node'), { recursive: true });
  writeFileSync(path.join(target.npmTreeCache, 'node_modules', '@tensorflow', 'tfjs-node', 'package.json'), '{"version":"4.22.0"}');
  assert.deepEqual(stillToFetch(target), { pypi: null, npm: null });
  // Nothing to fetch: nothing is asked of the (unreachable) registries.
  assert.equal(unreachableSource(stillToFetch(target), { ...process.env, ...NO_REGISTRIES }), null);
});

test('--gpus: all or a list of indices the host has; slot environment', () => {
  const smi = queryNvidiaSmi(envWith(fakeNvidiaSmi([0, 1, 2, 3].map((i) => H200(i, '560.35.03')), '12.6')));
  assert.deepEqual(parseGpusFlag('all', smi), [0, 1, 2, 3]);
  assert.deepEqual(parseGpusFlag('0,1,3', smi), [0, 1, 3]);
  assert.deepEqual(parseGpusFlag(' 2 ', smi), [2]);
  assert.throws(() => parseGpusFlag('0,4', smi), (e: Error) => e instanceof GpuSetupError && e.message === '--gpus 0,4: no GPU 4 on this host (nvidia-smi lists 0, 1, 2, 3)');
  assert.throws(() => parseGpusFlag('1,1', smi), /GPU 1 is listed twice/);
  assert.throws(() => parseGpusFlag('0-3', smi), /expected "all" or a comma-separated list .*\(bad entry "0-3"\)/);
  assert.throws(() => parseGpusFlag('', smi), /bad entry ""/);
  assert.throws(() => parseGpusFlag('all', null), /--gpus all: nvidia-smi is not on PATH/);

  const env = gpuSlotEnv(3, '/srv/sparsity');
  assert.deepEqual(env, {
    CUDA_VISIBLE_DEVICES: '3',
    TF_FORCE_GPU_ALLOW_GROWTH: 'true',
    CUDA_CACHE_PATH: path.join('/srv/sparsity', 'cuda-cache'),
    CUDA_CACHE_MAXSIZE: '4294967296',
    SPARSITY_DEVICE: 'gpu',
  });
  assert.equal(CUDA_CACHE_MAXSIZE, String(2 ** 32));
});

test("TensorFlow's device log: GPUs it created, or why it used none", () => {
  const onGpu = [
    'I0000 00:00:1733112345.123456   12345 gpu_device.cc:2022] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 139264 MB memory:  -> device: 0, name: NVIDIA H200, pci bus id: 0000:19:00.0, compute capability: 9.0',
  ].join('\n');
  assert.deepEqual(parseTfDeviceLog(onGpu), { gpus: [{ ordinal: 0, name: 'NVIDIA H200', memoryMB: 139264, computeCapability: '9.0' }], noGpuReason: null });
  const noDriver = 'I0000 00:00:1733112345.1 cuda_executor.cc:1015] could not open file\nI0000 cudart_stub.cc:32] Could not find cuda drivers on your machine, GPU will not be used.\n';
  assert.deepEqual(parseTfDeviceLog(noDriver), { gpus: [], noGpuReason: 'Could not find cuda drivers on your machine, GPU will not be used.' });
  const noLib = "W tensorflow/core/common_runtime/gpu/gpu_device.cc:2251] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly.\n";
  assert.match(parseTfDeviceLog(noLib).noGpuReason ?? '', /^Cannot dlopen some GPU libraries/);
  assert.equal(tf32Enabled('9.0', {}), true);
  assert.equal(tf32Enabled('9.0', { NVIDIA_TF32_OVERRIDE: '0' }), false);
  assert.equal(tf32Enabled('7.0', {}), false);
});

test('a GPU slot whose backend is on the CPU refuses to start, in one line', () => {
  assert.throws(
    () => assertOnGpu({ kind: 'cpu', backend: 'tensorflow', tensorflow: '2.17.1', tfjs: '4.22.0', noGpuReason: 'Could not find cuda drivers on your machine, GPU will not be used.' }, '2'),
    (e: Error) =>
      e instanceof BackendUnavailableError &&
      e.message === 'GPU slot 2 (CUDA_VISIBLE_DEVICES=2): training would run on TensorFlow 2.17.1 on CPU (Could not find cuda drivers on your machine, GPU will not be used.); refusing to start',
  );
  assert.throws(() => assertOnGpu({ kind: 'cpu', backend: 'wasm', tfjs: '4.22.0' }, '0'), /training would run on the wasm backend, which has no GPU support; refusing to start$/);
  assertOnGpu({ kind: 'gpu', backend: 'tensorflow', tfjs: '4.22.0', gpuName: 'NVIDIA H200' }, '0');
});

test('install lock: one holder at a time; a dead holder’s lock is taken over', async () => {
  const file = path.join(tmp(), 'x.lock');
  const order: string[] = [];
  const waits: string[] = [];
  const a = await acquireLock(file, (h) => waits.push(h));
  const bDone = acquireLock(file, (h) => waits.push(h)).then((release) => {
    order.push('b acquired');
    release();
  });
  await new Promise((r) => setTimeout(r, 700));
  order.push('a releases');
  a();
  await bDone;
  assert.deepEqual(order, ['a releases', 'b acquired']);
  assert.deepEqual(waits, [`pid ${process.pid} on ${os.hostname()}`]);
  // A lock written by a process that has exited.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  writeFileSync(file, JSON.stringify({ pid: Number(dead), host: os.hostname(), since: new Date().toISOString() }));
  const c = await acquireLock(file, () => assert.fail('must not wait for a dead process'));
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
  c();
  assert.equal(existsSync(file), false);
});

// These tests are about the install and selection rules themselves: start from a user's shell, not
// from the test runner's (which names wasm and turns the automatic install off for the other suites).
delete process.env.SPARSITY_BACKEND;
delete process.env.SPARSITY_NATIVE_INSTALL;

test('backend selection: a bad or unloadable explicit request is an error; the default steps down with a notice', async () => {
  assert.throws(() => requestedBackend(undefined, { SPARSITY_BACKEND: 'cuda' }), (e: Error) => e instanceof BackendUnavailableError && (e as BackendUnavailableError).exitCode === 2 && /SPARSITY_BACKEND=cuda: expected one of tensorflow, wasm, cpu/.test(e.message));
  assert.deepEqual(requestedBackend('wasm', { SPARSITY_BACKEND: 'cpu' }), { name: 'wasm', source: '--backend wasm' });
  assert.equal(requestedBackend(undefined, {}), null);

  // A state dir with no native install (and this checkout has no npm tfjs-node).
  const state = tmp();
  mkdirSync(path.join(state, 'native'));
  const env = { SPARSITY_HOME: state };
  await assert.rejects(selectBackend({ flag: 'tensorflow', env, nativeCandidates: nativeCandidates('cpu', env) }), (e: Error) => e instanceof BackendUnavailableError && /^--backend tensorflow: the native TensorFlow backend is not installed \(looked for /.test(e.message));
  await assert.rejects(selectBackend({ env: { ...env, SPARSITY_BACKEND: 'tensorflow' }, nativeCandidates: nativeCandidates('gpu', env) }), (e: Error) => /^SPARSITY_BACKEND=tensorflow: .*tfjs-node-gpu/.test(e.message));
  const fallback = await selectBackend({ env, nativeCandidates: nativeCandidates('cpu', env), nativeUnavailable: 'no C++ compiler (g++) found; install g++ and make, or choose --backend wasm' });
  assert.deepEqual(fallback, { backend: 'wasm', notice: 'training on wasm: no C++ compiler (g++) found; install g++ and make' });
  const device = describeDevice('wasm', { CUDA_VISIBLE_DEVICES: '1' });
  assert.equal(device.kind, 'cpu');
  assert.equal(device.visibleDevices, '1');
  assert.match(device.tfjs, /^\d+\.\d+\.\d+$/);
});

test('worker --gpus: one slot per GPU once the GPU build is there; refusals otherwise', async () => {
  const bin = fakeNvidiaSmi([0, 1, 2].map((i) => H200(i, '560.35.03')), '12.6');
  const state = tmp();
  const cache = tmp();
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, SPARSITY_NATIVE_CACHE: cache, SPARSITY_BACKEND: '' };
  await assert.rejects(prepareGpuSlots('0,2', { stateDir: state, env: { ...env, SPARSITY_NATIVE_INSTALL: '0' } }), (e: Error) =>
    e instanceof GpuSetupError && e.message === '--gpus 0,2: the GPU backend is not available: automatic install of the native TensorFlow backend is off (SPARSITY_NATIVE_INSTALL=0)');
  await assert.rejects(prepareGpuSlots('0', { stateDir: state, env: { ...env, SPARSITY_BACKEND: 'wasm' } }), /only the tensorflow backend trains on GPUs/);
  await assert.rejects(prepareGpuSlots('all', { stateDir: state, env: { ...env, PATH: tmp() } }), /nvidia-smi is not on PATH/);

  // An install the plan accepts as done (its record and package.json), as ensureNativeBackend leaves it.
  const plan = planNative({ variant: 'gpu', stateDir: state, cacheDir: cache, env });
  mkdirSync(plan.packageDir, { recursive: true });
  writeFileSync(path.join(plan.packageDir, 'package.json'), '{"name":"@tensorflow/tfjs-node-gpu","version":"4.22.0"}');
  writeFileSync(path.join(plan.installDir, 'sparsity-native.json'), JSON.stringify({ variant: 'gpu', tensorflow: plan.tensorflow, tfjsNode: '4.22.0', cuda: plan.cuda, cudnn: plan.cudnn, projectRoot: projectRoot() }));
  const slots = await prepareGpuSlots('0,2', { stateDir: state, env });
  assert.deepEqual(slots.map((s) => [s.gpu, s.env.CUDA_VISIBLE_DEVICES, s.env.CUDA_CACHE_PATH]), [
    [0, '0', path.join(state, 'cuda-cache')],
    [2, '2', path.join(state, 'cuda-cache')],
  ]);
});

test('before training: an explicit --backend tensorflow that cannot be installed fails at once; the default returns the reason', async () => {
  const bin = tmp();
  const py = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  symlinkSync(py, path.join(bin, 'python3'));
  const env: NodeJS.ProcessEnv = { PATH: bin, HOME: os.homedir(), SPARSITY_NATIVE_CACHE: tmp() };
  const stateDir = tmp();
  await assert.rejects(prepareNativeBackend({ flag: 'tensorflow', stateDir, env }), (e: Error) =>
    e instanceof BackendUnavailableError && /^--backend tensorflow: no C\+\+ compiler \(g\+\+\) found/.test(e.message));
  await assert.rejects(prepareNativeBackend({ stateDir, env: { ...env, SPARSITY_BACKEND: 'tensorflow' } }), (e: Error) => /^SPARSITY_BACKEND=tensorflow: no C\+\+ compiler/.test(e.message));
  assert.equal(await prepareNativeBackend({ flag: 'wasm', stateDir, env }), null);
  const reason = await prepareNativeBackend({ stateDir, env });
  assert.match(reason ?? '', /^no C\+\+ compiler \(g\+\+\) found/);
  assert.equal(env.SPARSITY_NATIVE_UNAVAILABLE, reason);
});
