// Pure sizing arithmetic: solveSize spends the budget, countParams matches the allocated tensors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildNetwork } from '../../engine/factory';
import { countParams, headsNear, solveSize, solveSizeFor } from '../../domain/sizing';
import { tinyMlpConfig, tinyTransformerConfig } from '../configs';
import type { ModelConfig } from '../../domain/spec';

test('solveSize lands within 5% of the budget over a grid of budgets and ratios', () => {
  for (const budget of [1e5, 3e5, 1e6, 3e6, 1e7, 1e8]) {
    for (const ratio of [8, 16, 32, 64, 128]) {
      for (const ffn of ['gated', 'plain'] as const) {
        const s = solveSize(budget, ratio, 4, ffn);
        if (s.dModel / ratio < 1) continue; // too wide for this budget to have a single layer
        const err = Math.abs(s.params - budget) / budget;
        assert.ok(err <= 0.05, `budget ${budget} ratio ${ratio} ${ffn}: got ${s.params} (${(err * 100).toFixed(1)}%) d=${s.dModel} n=${s.nLayers}`);
        const heads = headsNear(s.dModel, 4);
        assert.equal(s.dModel % heads, 0);
        assert.equal((s.dModel / heads) % 2, 0);
        assert.ok(s.nLayers >= 1);
      }
    }
  }
});

test('solveSize follows the requested width/depth ratio', () => {
  const narrow = solveSize(1e7, 16, 4, 'gated');
  const wide = solveSize(1e7, 128, 4, 'gated');
  assert.ok(narrow.dModel / narrow.nLayers < wide.dModel / wide.nLayers);
  assert.ok(narrow.nLayers > wide.nLayers);
});

function tensorSizes(model: ModelConfig): { total: number; linear: number } {
  const cfg = model.family === 'mlp' ? tinyMlpConfig() : tinyTransformerConfig();
  cfg.model = model;
  const specs = buildNetwork(cfg).specs;
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  return {
    total: specs.reduce((a, s) => a + size(s.shape), 0),
    linear: specs.filter((s) => s.prunable).reduce((a, s) => a + size(s.shape), 0),
  };
}

test('countParams agrees with the tensors the models allocate', () => {
  const base = tinyTransformerConfig().model;
  const variants: ModelConfig[] = [
    base,
    { ...base, ffn: 'plain', tiedEmbeddings: false, positions: 'learned' } as ModelConfig,
    { ...base, ffnMult: 2.5, nLayers: 3 } as ModelConfig,
    tinyMlpConfig().model,
    { ...tinyMlpConfig().model, ffn: 'gated', nLayers: 3 } as ModelConfig,
  ];
  for (const m of variants) {
    const counted = countParams(m);
    const actual = tensorSizes(m);
    assert.equal(counted.total, actual.total, `total for ${JSON.stringify(m)}`);
    assert.equal(counted.linear, actual.linear, `linear for ${JSON.stringify(m)}`);
    assert.ok(counted.nonEmbedding <= counted.total);
  }
});

test('MLP budgets are sized with the MLP\'s own parameter count: {budget: 2e6, ratio: 32} within 5%', () => {
  for (const over of [{}, { ffn: 'gated' as const }, { inputDim: 256, outputDim: 64 }]) {
    const base = { ...tinyMlpConfig().model, ...over } as ModelConfig;
    for (const [budget, ratio] of [[2e6, 32], [2e5, 16], [1e7, 64]]) {
      const s = solveSizeFor(base, budget, ratio);
      const counted = countParams({ ...base, dModel: s.dModel, nLayers: s.nLayers } as ModelConfig).total;
      assert.equal(counted, s.params, 'params reported = countParams');
      assert.ok(Math.abs(counted - budget) / budget <= 0.05, `${JSON.stringify(over)} budget ${budget} ratio ${ratio}: ${counted} params (d=${s.dModel}, n=${s.nLayers})`);
    }
  }
});
