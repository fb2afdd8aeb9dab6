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
  const budget = await runLimited({ module: cli, args: ['bench', 'gpu', '--dry-run', '--study', 'examples/studies/gpu', '--study-budget', '0'] }, { env, timeoutMs: 120_000 });
  assert.equal(budget.code, 2);
  assert.match(budget.error ?? '', /--study-budget must be a positive number \(got "0"\)/);
});

test('bench gpu (not dry) where both installs fail: each failure reported in one line, later phases skipped, not ok', async () => {
  const state = tmp();
  const env = { ...hostEnv(fakeNvidiaSmi([H200(0, '580.65.06')], '13.0')), SPARSITY_NATIVE_INSTALL: '0', SPARSITY_TORCH_INDEX_URL: `file://${tmp()}/no-index`, TEMPORAL_ADDRESS: '127.0.0.1:1' };
  const r = await benchGpu({ stateDir: state, env, log: silent, budgetSeconds: 120, study: path.join(__dirname, '..', '..', 'examples', 'studies', 'gpu') });
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
  // The study needs the device check: skipped, nothing submitted.
  assert.deepEqual([r.phases.study?.status, r.phases.study?.error], ['skipped', 'the device check failed']);
  assert.ok(r.seconds < 120);
});

// --study with several sweep files (bench/study.ts): all read and validated in the dry run,
// before anything is installed; each refusal names the file and the field.
const GPU_STUDY = path.join(__dirname, '..', '..', 'examples', 'studies', 'gpu');
const h200Host = () => hostEnv(fakeNvidiaSmi([H200(0, '580.65.06')], '13.0'));

test('bench gpu --dry-run --study <dir>: every *.yaml in it, by name, validated and planned; --study-only plans no PyTorch', async () => {
  const state = tmp();
  const r = await benchGpu({ dryRun: true, study: GPU_STUDY, studyOnly: true, stateDir: state, env: h200Host(), log: silent });
  assert.equal(r.refused, undefined);
  assert.equal(r.ok, true, JSON.stringify(r.phases));
  assert.equal(r.phases.installTorch.status, 'skipped');
  const s = r.phases.study!;
  assert.equal(s.status, 'planned');
  assert.deepEqual(
    s.value!.sweeps.map((x) => [path.basename(x.file), x.name, x.total]),
    [
      ['journey-matters.yaml', 'journey-matters', 18],
      ['lazy-neuron-random-labels.yaml', 'lazy-neuron-random-labels', 2],
      ['lazy-neuron-teacher.yaml', 'lazy-neuron-teacher', 2],
      ['sparsing-law.yaml', 'sparsing-law', 6],
      ['width-depth.yaml', 'width-depth', 6],
    ],
  );
  assert.equal(s.value!.out, path.join(state, 'studies'));
  assert.equal(s.value!.slots, 4);
  assert.equal(s.value!.budgetSeconds, 360);
  // Planned only: nothing written, the output folder included.
  assert.deepEqual(readdir(state), []);
});

test('bench gpu --dry-run --study a.yaml,b.yaml: the list in its order; a bad file refused by name and field; mixed queues and repeated names refused', async () => {
  const env = h200Host();
  const list = `${path.join(GPU_STUDY, 'width-depth.yaml')}, ${path.join(GPU_STUDY, 'sparsing-law.yaml')}`;
  const out = path.join(tmp(), 'out', 'studies');
  const r = await benchGpu({ dryRun: true, study: list, studyOut: out, studyBudgetSeconds: 120, studySlotsPerGpu: 2, stateDir: tmp(), env, log: silent });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.phases.study?.value?.sweeps.map((x) => x.name), ['width-depth', 'sparsing-law']);
  assert.deepEqual([r.phases.study?.value?.out, r.phases.study?.value?.budgetSeconds, r.phases.study?.value?.slots], [out, 120, 2]);

  const dir = tmp();
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, readFileSync(path.join(GPU_STUDY, 'width-depth.yaml'), 'utf8').replace('{ dModel: 256, nLayers: 4 }', '{ dModel: -256, nLayers: 4 }'));
  const refused = await benchGpu({ dryRun: true, study: `${path.join(GPU_STUDY, 'sparsing-law.yaml')},${bad}`, stateDir: tmp(), env, log: silent });
  assert.match(refused.refused ?? '', /bad\.yaml/);
  assert.match(refused.refused ?? '', /grid\.size\[3\]\.dModel/);
  assert.equal(refused.phases.study, undefined);

  const missing = await benchGpu({ dryRun: true, study: `${path.join(GPU_STUDY, 'sparsing-law.yaml')},${path.join(dir, 'nope.yaml')}`, stateDir: tmp(), env, log: silent });
  assert.match(missing.refused ?? '', /cannot read sweep file .*nope\.yaml: no such file/);

  // The CPU study's files name the default queue: they cannot share the GPU study's slots.
  const cpu = path.join(__dirname, '..', '..', 'examples', 'studies', 'cpu', 'width-depth.yaml');
  const mixed = await benchGpu({ dryRun: true, study: `${path.join(GPU_STUDY, 'sparsing-law.yaml')},${cpu}`, stateDir: tmp(), env, log: silent });
  assert.match(mixed.refused ?? '', /^--study: .*cpu\/width-depth\.yaml: taskQueue "sparsity" differs from .*sparsing-law\.yaml's "gpu-h200"/);

  const twice = await benchGpu({ dryRun: true, study: `${path.join(GPU_STUDY, 'sparsing-law.yaml')},${path.join(GPU_STUDY, 'sparsing-law.yaml')}`, stateDir: tmp(), env, log: silent });
  assert.match(twice.refused ?? '', /name "sparsing-law" repeats/);

  const empty = await benchGpu({ dryRun: true, study: tmp(), stateDir: tmp(), env, log: silent });
  assert.match(empty.refused ?? '', /the directory holds no \*\.yaml sweep file/);
});

test('bench gpu: a bad --study-budget, --study-slots-per-gpu or --study-out is refused; study flags without --study too', async () => {
  const env = h200Host();
  // Below 60 s the 30 s reserve would leave no time to train (a newcomer's `study --budget 25` hung).
  for (const b of [0, -5, Number.NaN, 25]) {
    const r = await benchGpu({ dryRun: true, study: GPU_STUDY, studyBudgetSeconds: b, stateDir: tmp(), env, log: silent });
    assert.match(r.refused ?? '', /^--study-budget must be at least 60 seconds/, String(b));
  }
  // The study's files are checked before the host: a bad one is named even where there is no GPU.
  const noGpu = await benchGpu({ dryRun: true, study: '/nonexistent/study', stateDir: tmp(), env: { ...env, PATH: '/nonexistent' }, log: silent });
  assert.match(noGpu.refused ?? '', /nonexistent\/study/);
  const slots = await benchGpu({ dryRun: true, study: GPU_STUDY, studySlotsPerGpu: 0, stateDir: tmp(), env, log: silent });
  assert.match(slots.refused ?? '', /^--study-slots-per-gpu must be a whole number ≥ 1 \(got 0\)/);
  const file = path.join(tmp(), 'a-file');
  writeFileSync(file, '');
  const outIsFile = await benchGpu({ dryRun: true, study: GPU_STUDY, studyOut: path.join(file, 'studies'), stateDir: tmp(), env, log: silent });
  assert.match(outIsFile.refused ?? '', /^--study-out .*a-file\/studies: .*a-file is a file, not a directory/);
  const archive = await benchGpu({ dryRun: true, study: GPU_STUDY, studyArchive: path.join(tmp(), 'studies.zip'), stateDir: tmp(), env, log: silent });
  assert.match(archive.refused ?? '', /--study-archive .*studies\.zip: name a \.tar\.gz file/);
  const stray = await benchGpu({ dryRun: true, studyBudgetSeconds: 60, stateDir: tmp(), env, log: silent });
  assert.equal(stray.refused, '--study-budget needs --study <sweep files>');
});

test('points.csv: a header, one line per (run, step, metric), quoted where a value holds a comma or a quote', async () => {
  const { POINT_COLUMNS, pointsCsv } = await import('../../client/sweepOutputs');
  const row = Object.fromEntries(POINT_COLUMNS.map((c) => [c, null])) as Record<(typeof POINT_COLUMNS)[number], string | number | null>;
  const text = pointsCsv([
    { ...row, run_id: 'r0', label: 'relu d256 L4, "dense"', step: 25, tokens: 409600, val_loss: 5.25, metric: 'ppl-1%', activation_ratio: 0.125 },
    { ...row, run_id: 'r0', step: 50, val_loss: Number.NaN },
  ]);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], POINT_COLUMNS.join(','));
  assert.equal(lines.length, 3);
  assert.ok(lines[1].startsWith('r0,"relu d256 L4, ""dense""",,'), lines[1]);
  assert.match(lines[1], /,25,409600,,5\.25,,ppl-1%,0\.125,/);
  assert.equal(lines[2].split(',').length, POINT_COLUMNS.length);
});
