import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fitCurve, fitChinchilla } from '../../analysis/fit';
import { renderReport, type ReportInput, type ReportRun } from '../../analysis/report';
import { rng, gaussian } from '../../analysis/stats';

const FIX = path.join(__dirname, '..', 'fixtures');

function sparsingCurve(name: string): { tokens: number[]; ratio: number[] } {
  const d = JSON.parse(fs.readFileSync(path.join(FIX, 'sparsing-law', `${name}.json`), 'utf8')) as { token_passed: number[]; activation_ratio: number[] };
  return { tokens: d.token_passed, ratio: d.activation_ratio };
}

/** A report input built from the published fixtures plus synthetic width/depth and layer data. */
export async function exampleReportInput(): Promise<ReportInput> {
  const sizes: Record<string, number> = { '0.1b': 1e8, '0.2b': 2e8, '0.4b': 4e8, '0.8b': 8e8, '1.2b': 1.2e9 };
  const runs: ReportRun[] = [];
  const points: ReportInput['points'] = [];
  const curveFits: NonNullable<ReportInput['curveFits']> = [];
  for (const act of ['relu', 'silu']) {
    for (const [s, params] of Object.entries(sizes)) {
      const id = `${s}_${act}`;
      const c = sparsingCurve(id);
      runs.push({ id, activation: act, params, dModel: 512, nLayers: 8, config: { lr: 1e-3 } });
      c.tokens.forEach((t, i) => points.push({ runId: id, step: i * 1000, tokens: t, activationRatio: c.ratio[i] }));
      const r = await fitCurve(act === 'relu' ? 'relu-logspace' : 'silu-power', c.tokens.map((t) => t / 1e9), c.ratio, { workers: 1 });
      curveFits.push({ runId: id, result: r });
    }
  }
  // synthetic width/depth sweep
  const u = rng(7);
  const wd: NonNullable<ReportInput['widthDepthPoints']> = [];
  for (const r of [8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256]) {
    const id = `wd-r${r}`;
    runs.push({ id, activation: 'relu', params: 5e7, dModel: r * 8, nLayers: 8 });
    wd.push({ runId: id, ratio: r, activationRatio: 0.05 + 0.0008 * Math.min(r, 100) + 0.002 * gaussian(u) });
  }
  const widthDepthFit = await fitCurve('width-depth', wd.map((p) => p.ratio), wd.map((p) => p.activationRatio), { workers: 1 });
  // Chinchilla points (Epoch's data; D = C / 6N)
  const lines = fs.readFileSync(path.join(FIX, 'chinchilla', 'epoch-svg-extracted.csv'), 'utf8').trim().split('\n');
  const h = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(',')).map((c) => ({ N: +c[h.indexOf('Model Size')], D: +c[h.indexOf('Training FLOP')] / (6 * +c[h.indexOf('Model Size')]), L: +c[h.indexOf('loss')] }))
    .sort((a, b) => b.L - a.L).slice(5);
  const chinchillaFit = await fitChinchilla(rows, { workers: 1, starts: [[6, 7.7, 0.6, 0.35, 0.37]] });
  const lossPoints = rows.map((p, i) => ({ runId: `chin-${i}`, avgParams: p.N, tokens: p.D, loss: p.L }));
  // synthetic per-layer ratios for two runs
  const layerPoints: NonNullable<ReportInput['layerPoints']> = [];
  for (const id of ['0.1b_relu', '0.1b_silu']) {
    for (let step = 0; step <= 20000; step += 1000) for (let layer = 0; layer < 8; layer++) {
      const base = id.endsWith('relu') ? 0.07 : 0.33;
      layerPoints.push({ runId: id, step, layer, activationRatio: base + 0.03 * Math.exp(-step / 6000) + 0.004 * layer + 0.002 * gaussian(u) });
    }
  }
  return { title: 'sparsity report (fixtures)', subtitle: 'Sparsing Law curves, Epoch Chinchilla data, synthetic width/depth and layer data', runs, points, curveFits, widthDepthFit, widthDepthPoints: wd, chinchillaFit, lossPoints, layerPoints };
}

test('renderReport writes an HTML page with non-trivial SVG and PNG charts', async () => {
  const input = await exampleReportInput();
  const out = process.env.REPORT_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sparsity-report-'));
  const { files } = await renderReport(input, out);
  const names = files.map((f) => path.basename(f)).sort();
  for (const chart of ['activation-vs-tokens', 'width-depth', 'loss-vs-params', 'layer-heatmap']) {
    assert.ok(names.includes(`${chart}.svg`), `${chart}.svg written`);
    assert.ok(names.includes(`${chart}.png`), `${chart}.png written`);
  }
  for (const f of files) {
    assert.ok(fs.existsSync(f), `${f} exists`);
    const size = fs.statSync(f).size;
    assert.ok(size > 2000, `${f} is non-trivial (${size} bytes)`);
  }
  const png = fs.readFileSync(path.join(out, 'activation-vs-tokens.png'));
  assert.equal(png.subarray(1, 4).toString('ascii'), 'PNG');
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.match(html, /not-identified/); // 0.4b ReLU's A0
  assert.match(html, /width-depth\.svg/);
  const svg = fs.readFileSync(path.join(out, 'width-depth.svg'), 'utf8');
  assert.match(svg, /breakpoint/);
});

test('a fit that is not ok is drawn dashed and labelled with its status, without a band', async () => {
  const { activationVsTokensSpec } = await import('../../analysis/report');
  const u = rng(5);
  const tokens = Array.from({ length: 30 }, (_, i) => (1 + i) * 1e9);
  const flat = tokens.map(() => 0.1 + 1e-4 * gaussian(u));
  const r = await fitCurve('relu-logspace', tokens.map((t) => t / 1e9), flat, { workers: 1 });
  assert.equal(r.status, 'degenerate');
  const run: ReportRun = { id: 'r1', label: 'flat', activation: 'relu', params: 1e6, dModel: 64, nLayers: 2 };
  const spec = activationVsTokensSpec({
    title: 't', runs: [run], points: tokens.map((t, i) => ({ runId: 'r1', step: i, tokens: t, activationRatio: flat[i], loss: 3 })),
    curveFits: [{ runId: 'r1', result: r }],
  });
  const text = JSON.stringify(spec);
  assert.match(text, /"strokeDash":\[5,4\]/);
  assert.match(text, /degenerate fit/);
  assert.doesNotMatch(text, /"type":"area"/, 'no band for a degenerate fit');
});

test('renderReport prints a provenance table: backend, device, host, build, and a mixed-build run flagged', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sparsity-report-prov-'));
  const common = { backend: 'wasm', device: 'cpu Intel Xeon x16 (wasm)', host: 'node-7', gitCommit: 'abcdef0123456789', gitDirty: false };
  await renderReport(
    {
      title: 'provenance',
      runs: [],
      points: [],
      provenance: [
        { ...common, runId: 'r0', label: 'relu-d32', buildId: '0.1.0+abcdef012345', mixedBuilds: false, builds: ['0.1.0+abcdef012345'] },
        { ...common, runId: 'r1', label: 'silu-d32', buildId: '0.1.0+abcdef012345', gitDirty: true, mixedBuilds: true, builds: ['0.1.0+abcdef012345', '0.1.0+fedcba987654'] },
      ],
    },
    out,
  );
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  const table = html.slice(html.indexOf('<h2>Provenance</h2>'));
  assert.match(table, /<td>relu-d32<\/td><td>wasm<\/td><td>cpu Intel Xeon x16 \(wasm\)<\/td><td>node-7<\/td><td>0\.1\.0\+abcdef012345<\/td><td>abcdef012345<\/td>/);
  assert.match(table, /MIXED builds: 0\.1\.0\+abcdef012345, 0\.1\.0\+fedcba987654/);
  assert.match(table, /abcdef012345 \(dirty tree\)/);
  assert.equal((table.match(/MIXED/g) ?? []).length, 1);
});

test('every panel draws a fit that is not ok as such: width/depth and loss dashed and labelled, no band, no iso-loss lines', async () => {
  const { widthDepthSpec, lossSpec } = await import('../../analysis/report');
  const u = rng(9);
  const ratios = [8, 16, 32, 64, 128, 256];
  const flat = ratios.map(() => 0.2 + 1e-4 * gaussian(u));
  const wd = await fitCurve('width-depth', ratios, flat, { workers: 1 });
  assert.notEqual(wd.status, 'ok', `a flat width/depth curve is not an ok fit (${wd.status})`);
  const runs: ReportRun[] = ratios.map((r) => ({ id: `r${r}`, activation: 'relu', params: 1e6, dModel: r * 2, nLayers: 2 }));
  const wdSpec = JSON.stringify(widthDepthSpec({ title: 't', runs, points: [], widthDepthPoints: ratios.map((r, i) => ({ runId: `r${r}`, ratio: r, activationRatio: flat[i] })), widthDepthFits: [{ group: 'relu', result: wd }] }));
  assert.match(wdSpec, /"strokeDash":\[5,4\]/);
  assert.match(wdSpec, new RegExp(`${wd.status} fit`));
  assert.doesNotMatch(wdSpec, /"type":"area"/, 'no band for a fit that is not ok');
  assert.doesNotMatch(wdSpec, /breakpoint r =/, 'no breakpoint claimed');

  // One token budget: only K + A/N^α is identified, so the chinchilla fit is not-identified.
  const pts = [1e5, 2e5, 4e5, 8e5, 1.6e6, 3.2e6, 6.4e6].map((N) => ({ N, D: 1e8, L: 2 + 300 / N ** 0.4 * Math.exp(0.002 * gaussian(u)) }));
  const chin = await fitChinchilla(pts, { workers: 1 });
  assert.equal(chin.status, 'not-identified');
  const lossRuns: ReportRun[] = pts.map((p, i) => ({ id: `n${i}`, activation: 'relu', params: p.N, avgParams: p.N, dModel: 64, nLayers: 2 }));
  const spec = lossSpec({ title: 't', runs: lossRuns, points: [], lossPoints: pts.map((p, i) => ({ runId: `n${i}`, avgParams: p.N, tokens: p.D, loss: p.L })), chinchillaFits: [{ group: 'relu', result: chin }] });
  const text = JSON.stringify(spec);
  assert.match(text, /"strokeDash":\[5,4\]/);
  assert.match(text, /not-identified fit/);
  assert.doesNotMatch(text, /iso-loss/, 'no iso-loss lines from a law that is not known');
  assert.doesNotMatch(text, /fit: E=/, 'no parameters in the title');
});

test('the Journey Matters figure: one panel per definition of N, statuses, AIC and held-out error', async () => {
  const { journeySpec } = await import('../../analysis/report');
  const { compareNDefinitions } = await import('../../analysis/journey');
  const { epochGrid } = await import('../../analysis/chinchilla');
  const u = rng(4);
  const jr = [];
  for (const dense of [1e7, 3e7, 1e8]) for (const s of [0, 0.5, 0.75]) {
    const avg = dense * (1 - 0.6 * s);
    jr.push({ id: `d${dense}-s${s}`, label: `d${dense}-s${s}`, pruned: s > 0, avgNonzero: avg, finalNonzero: dense * (1 - s), dense, tokens: 1e10, loss: (1.7 + 400 / avg ** 0.34 + 1500 / 1e10 ** 0.28) * Math.exp(0.003 * gaussian(u)) });
  }
  const comparison = await compareNDefinitions(jr, { starts: epochGrid().filter((_, i) => i % 25 === 0), workers: 1 });
  const j = { group: 'relu', runs: jr, comparison };
  const text = JSON.stringify(journeySpec(j));
  for (const k of ['N=N̄', 'N=N_final', 'N=N_dense']) assert.ok(text.includes(`${k}`), k);
  assert.match(text, /AIC/);
  assert.match(text, /held-out/);
  const out = process.env.REPORT_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sparsity-journey-'));
  const runs: ReportRun[] = jr.map((r) => ({ id: r.id, activation: 'relu', params: r.dense, avgParams: r.avgNonzero, dModel: 64, nLayers: 2 }));
  const { files } = await renderReport({ title: 'journey', runs, points: [], journeys: [j] }, out);
  assert.ok(files.some((f) => f.endsWith('journey-matters.png')));
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.match(html, /The Journey Matters: which N explains the runs/);
});
