// `bench gpu --dry-run` and its refusals on a CPU-only host: GPU hosts are played by a fake
// `nvidia-smi` on PATH (as in nativeBackend.test.ts). Nothing here downloads, builds or touches a GPU.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { benchGpu, checkSweep, writeResult } from '../../bench/gpu';
import { runLimited } from '../../bench/proc';
import { planTorchCuda, torchVenvPlan } from '../../bench/torchCuda';
import { GpuSetupError } from '../../stack/gpuPlan';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'sparsity-benchgpu-'));

function fakeNvidiaSmi(rows: string[], cuda: string | null): string {
  const dir = tmp();
  const header = `| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   ${cuda ? `CUDA Version: ${cuda}` : ''} |`;
  writeFileSync(
    path.join(dir, 'nvidia-smi'),
    `#!/bin/sh\nif [ "$1" = "--query-gpu=index,name,memory.total,driver_version" ]; then\ncat <<'EOF'\n${rows.join('\n')}\nEOF\nelse\necho '${header}'\nfi\n`,
  );
  chmodSync(path.join(dir, 'nvidia-smi'), 0o755);
  return dir;
}

const H200 = (i: number, driver: string) => `${i}, NVIDIA H200, 143771 MiB, ${driver}`;
// The user's environment with the fake first on PATH: the installer's prerequisite check (python3,
// pip, g++, make, Node headers) runs against this host's real tools.
// Without the test runner's own settings (scripts/test.js turns the native install off and picks wasm).
const hostEnv = (bin: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  for (const k of ['SPARSITY_NATIVE_INSTALL', 'SPARSITY_BACKEND', 'SPARSITY_TF_VERSION', 'SPARSITY_TORCH_VERSION', 'SPARSITY_TORCH_INDEX_URL', 'SPARSITY_HOME']) delete env[k];
  return env;
};
const silent = () => undefined;

test('bench gpu --dry-run on a fake 2×H200 host (driver 580): plans both installs, fetches nothing', async () => {
  const state = tmp();
  const r = await benchGpu({ dryRun: true, stateDir: state, env: hostEnv(fakeNvidiaSmi([H200(0, '580.65.06'), H200(1, '580.65.06')], '13.0')), log: silent });
  assert.equal(r.refused, undefined);
  assert.equal(r.ok, true, JSON.stringify(r.phases));
  assert.deepEqual(r.host?.used, [0, 1]);
  assert.equal(r.host?.gpus[1].name, 'NVIDIA H200');
  assert.equal(r.plan.backend?.tensorflow, '2.19.1');
  assert.ok(r.plan.backend?.wheels.includes('nvidia-cudnn-cu12==9.3.0.75'));
  // Driver 580 runs CUDA 13.0: the newest PyTorch wheel on PyPI's default index.
  assert.equal(r.plan.torch?.version, '2.13.0');
  assert.equal(r.plan.torch?.venv, path.join(state, 'venv-torch-cuda-2.13.0'));
  // --isolated: a pip config pointing at a CPU-only index cannot swap the wheel.
  assert.deepEqual(r.plan.torch?.pipArgs.slice(0, 1), ['--isolated']);
  assert.ok(r.plan.torch?.pipArgs.includes('https://pypi.org/simple'));
  assert.equal(r.phases.installBackend.status, 'planned');
  assert.equal(r.phases.installTorch.status, 'planned');
  for (const k of ['device', 'sweep', 'benchmark'] as const) assert.equal(r.phases[k].status, 'skipped');
  assert.deepEqual(r.targets, { ratioLargeAtLeastHalf: null, warmFirstStepUnder60s: null, sweepOnGpu: null });
  // Nothing was installed: the state dir holds no venv and no native package.
  assert.deepEqual(readdir(state), []);

  const out = path.join(tmp(), 'sub', 'bench-gpu.json');
  writeResult(out, r);
  const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]), JSON.parse(JSON.stringify(r)));
});

function readdir(d: string): string[] {
  return require('node:fs').readdirSync(d) as string[];
}

test('bench gpu --dry-run on a driver-550 host: TensorFlow 2.17.1 and the CUDA 12.8 PyTorch; --gpus picks the sweep slots', async () => {
  const r = await benchGpu({ dryRun: true, gpus: '1', stateDir: tmp(), env: hostEnv(fakeNvidiaSmi([H200(0, '550.54.15'), H200(1, '550.54.15')], '12.4')), log: silent });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.host?.used, [1]);
  assert.equal(r.plan.backend?.tensorflow, '2.17.1');
  assert.equal(r.plan.torch?.version, '2.9.1');
  assert.equal(r.plan.torch?.cuda, '12.8');
});

test('bench gpu refusals: no nvidia-smi, a failing nvidia-smi, a driver too old, a GPU the host lacks, an unreadable study file, a state dir held by sparsity dev', async () => {
  const noSmi = await benchGpu({ dryRun: true, stateDir: tmp(), env: { ...process.env, PATH: `${tmp()}:/usr/bin:/bin` }, log: silent });
  assert.equal(noSmi.ok, false);
  assert.match(noSmi.refused ?? '', /nvidia-smi is not on PATH/);
  assert.equal(noSmi.host, null);

  const old = await benchGpu({ dryRun: true, stateDir: tmp(), env: hostEnv(fakeNvidiaSmi([H200(0, '470.82.01')], '11.4')), log: silent });
  assert.match(old.refused ?? '', /NVIDIA driver 470\.82\.01 \(CUDA 11\.4\) is too old/);

  const bad = await benchGpu({ dryRun: true, gpus: '0,3', stateDir: tmp(), env: hostEnv(fakeNvidiaSmi([H200(0, '580.65.06')], '13.0')), log: silent });
  assert.equal(bad.refused, '--gpus 0,3: no GPU 3 on this host (nvidia-smi lists 0)');

  // nvidia-smi present but failing (driver not loaded): the host's to fix, so a refusal too.
  const broken = tmp();
  writeFileSync(path.join(broken, 'nvidia-smi'), "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\nexit 9\n");
  chmodSync(path.join(broken, 'nvidia-smi'), 0o755);
  const down = await benchGpu({ dryRun: true, stateDir: tmp(), env: hostEnv(broken), log: silent });
  assert.equal(down.refused, "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.");

  const study = await benchGpu({ dryRun: true, study: path.join(tmp(), 'missing.yaml'), stateDir: tmp(), env: hostEnv(fakeNvidiaSmi([H200(0, '580.65.06')], '13.0')), log: silent });
  assert.match(study.refused ?? '', /cannot read sweep file .*missing\.yaml: no such file/);

  // A live `sparsity dev` (this process stands in for it) holds the state dir's stack.
  const held = tmp();
  writeFileSync(path.join(held, 'endpoints.json'), JSON.stringify({ temporalAddress: '127.0.0.1:1', namespace: 'default', databaseUrl: 'postgres://x@127.0.0.1:1/x', pid: process.pid }));
  const busy = await benchGpu({ dryRun: true, study: path.join(__dirname, '..', '..', 'examples', 'transformer.yaml'), stateDir: held, env: hostEnv(fakeNvidiaSmi([H200(0, '580.65.06')], '13.0')), log: silent });
  assert.match(busy.refused ?? '', /^--study: a sparsity dev stack is already running for /);
});

test('bench gpu --dry-run reports an installer that cannot run (no C++ compiler) as a failed phase, not a refusal', async () => {
  const bin = fakeNvidiaSmi([H200(0, '580.65.06')], '13.0');
  // python3 and its pip but no g++: a PATH of the fake plus a python3 symlink only.
  const py = require('node:child_process').spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim() as string;
  require('node:fs').symlinkSync(py, path.join(bin, 'python3'));
  require('node:fs').symlinkSync('/bin/cat', path.join(bin, 'cat'));
  const r = await benchGpu({ dryRun: true, stateDir: tmp(), env: { HOME: os.homedir(), PATH: bin }, log: silent });
  assert.equal(r.refused, undefined);
  assert.equal(r.ok, false);
  assert.equal(r.phases.installBackend.status, 'failed');
  assert.match(r.phases.installBackend.error ?? '', /no C\+\+ compiler \(g\+\+\) found/);
});

test('PyTorch CUDA plan by driver: CUDA 13 wheel from 580.65.06, the CUDA 12.8 one below, refused under 525.60.13', () => {
  const smi = (driver: string) => ({ gpus: [{ index: 0, name: 'NVIDIA H200', memoryMiB: 143771, driver }], driver, cuda: null });
  assert.equal(planTorchCuda(smi('580.65.06')).torch, '2.13.0');
  assert.equal(planTorchCuda(smi('575.51.03')).torch, '2.9.1');
  assert.equal(planTorchCuda(smi('535.104.05')).torch, '2.9.1');
  assert.throws(() => planTorchCuda(smi('520.61.05')), (e: Error) => e instanceof GpuSetupError && /driver 520\.61\.05 is older than 525\.60\.13/.test(e.message));
  assert.throws(() => planTorchCuda(null), /nvidia-smi is not on PATH/);
  assert.throws(() => planTorchCuda(smi('560.35.03'), '2.13.0'), /needs driver ≥ 580\.65\.06; this host has 560\.35\.03/);
  assert.throws(() => planTorchCuda(smi('560.35.03'), '1.0.0'), /known CUDA builds: 2\.13\.0, 2\.9\.1/);
  const p = torchVenvPlan('/srv/s', planTorchCuda(smi('560.35.03')), { SPARSITY_TORCH_INDEX_URL: 'https://mirror.example/simple' });
  assert.equal(p.python, '/srv/s/venv-torch-cuda-2.9.1/bin/python');
  assert.deepEqual(p.pipArgs.slice(-4), ['--index-url', 'https://mirror.example/simple', 'torch==2.9.1', 'numpy']);
});

test('the check sweep is valid: 2 runs of the reference Transformer on Brown, a heartbeat timeout that outlasts a cold JIT', () => {
  const s = checkSweep('bench-gpu-test');
  assert.equal(s.taskQueue, 'bench-gpu-test');
  assert.deepEqual(s.grid.activation, ['relu', 'silu']);
  assert.equal(s.grid.size.length, 1);
  assert.equal(s.heartbeatTimeoutSeconds, 600);
});

test('phase time limit: a child that outlives it is killed with its process group and reported', async () => {
  const r = await runLimited({ cmd: 'bash', args: ['-c', 'sleep 30 & sleep 30; echo "{}"'] }, { timeoutMs: 300 });
  assert.equal(r.ok, false);
  assert.equal(r.timedOut, true);
  assert.match(r.error ?? '', /stopped at the 0 s limit/);
  assert.ok(r.seconds < 5, `took ${r.seconds} s`);
  const ok = await runLimited<{ a: number }>({ cmd: 'bash', args: ['-c', 'echo noise >&2; echo \'{"a":1}\''] }, { timeoutMs: 5000 });
  assert.deepEqual([ok.ok, ok.value], [true, { a: 1 }]);
  const fail = await runLimited({ cmd: 'bash', args: ['-c', 'echo "it broke" >&2; exit 3'] }, { timeoutMs: 5000 });
  assert.deepEqual([fail.ok, fail.code, fail.error], [false, 3, 'it broke']);
});

test('the engine child (forked as bench gpu forks it): figures on wasm when allowed; refuses a GPU measurement that would run on CPU', async () => {
  const { REFERENCE_MODEL } = await import('../../bench/train');
  const job = { model: { ...REFERENCE_MODEL, dModel: 64, nLayers: 1, seqLen: 32 }, batchSize: 4, steps: 2, peakSize: 128, backend: 'wasm', allowCpu: true };
  const mod = path.join(__dirname, '..', '..', 'bench', 'gpuEngine.ts');
  const env = { ...process.env, CUDA_VISIBLE_DEVICES: '0' };
  const r = await runLimited<import('../../bench/gpuEngine').EngineRun>({ module: mod, args: [JSON.stringify(job)] }, { env, timeoutMs: 180_000 });
  assert.equal(r.ok, true, r.error);
  const v = r.value!;
  assert.equal(v.backend, 'wasm');
  assert.equal(v.device.kind, 'cpu');
  assert.equal(v.losses.length, 2);
  assert.ok(v.losses.every(Number.isFinite));
  assert.ok(v.tokensPerSec > 0 && v.peakGflops > 0 && v.firstStepSeconds > 0, JSON.stringify(v));
  const refused = await runLimited({ module: mod, args: [JSON.stringify({ ...job, allowCpu: false })] }, { env, timeoutMs: 180_000 });
  assert.equal(refused.ok, false);
  assert.equal(refused.error, 'GPU slot 0 (CUDA_VISIBLE_DEVICES=0): training would run on the wasm backend, which has no GPU support; refusing to start');
});

test('sparsity bench gpu --dry-run: one JSON line on stdout and in --out, exit 0; exit 2 and one line on stderr without a GPU', async () => {
  const cli = path.join(__dirname, '..', '..', 'cli', 'main.ts');
  const state = tmp();
  const out = path.join(state, 'r', 'bench-gpu.json');
  const env = { ...hostEnv(fakeNvidiaSmi([H200(0, '560.35.03')], '12.6')), SPARSITY_HOME: state };
  const r = await runLimited<{ ok: boolean; plan: { torch: { version: string } } }>({ module: cli, args: ['bench', 'gpu', '--dry-run', '--out', out] }, { env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.error);
  assert.equal(r.value?.ok, true);
  assert.equal(r.value?.plan.torch.version, '2.9.1');
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), r.value);
  const lines: string[] = [];
  const none = await runLimited({ module: cli, args: ['bench', 'gpu', '--dry-run'] }, { env: { ...process.env, PATH: `${tmp()}:/usr/bin:/bin`, SPARSITY_HOME: state }, timeoutMs: 120_000, onStderr: (l) => lines.push(l) });
  assert.equal(none.code, 2);
  assert.deepEqual(lines, ['bench gpu: --gpus all: nvidia-smi is not on PATH, so this host has no usable NVIDIA GPU']);
});

test('bench gpu (not dry) where both installs fail: each failure reported in one line, later phases skipped, not ok', async () => {
  const state = tmp();
  const env = { ...hostEnv(fakeNvidiaSmi([H200(0, '580.65.06')], '13.0')), SPARSITY_NATIVE_INSTALL: '0', SPARSITY_TORCH_INDEX_URL: `file://${tmp()}/no-index`, TEMPORAL_ADDRESS: '127.0.0.1:1' };
  const r = await benchGpu({ stateDir: state, env, log: silent, budgetSeconds: 120 });
  assert.equal(r.refused, undefined);
  assert.equal(r.ok, false);
  assert.equal(r.phases.installBackend.status, 'failed');
  assert.match(r.phases.installBackend.error ?? '', /SPARSITY_NATIVE_INSTALL=0/);
  assert.equal(r.phases.installTorch.status, 'failed');
  assert.match(r.phases.installTorch.error ?? '', /^pip install torch==2\.13\.0 into .*venv-torch-cuda-2\.13\.0 failed \(exit 1\): ERROR/);
  assert.deepEqual(
    [r.phases.device, r.phases.sweep, r.phases.benchmark].map((p) => [p.status, p.error]),
    [['skipped', 'the GPU backend did not install'], ['skipped', 'the device check failed'], ['skipped', 'the device check failed']],
  );
  assert.ok(r.seconds < 120);
});
