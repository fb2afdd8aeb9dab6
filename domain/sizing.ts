// Parameter accounting and width/depth sizing. Pure arithmetic, no tfjs: the workflow bundle
// imports this to expand `{budget, ratio}` sweeps deterministically.
import type { MlpModelConfig, ModelConfig } from './spec';

/** Parameter counts of a model (all exact, from its configuration). */
export interface ParamCounts {
  /** Every trainable parameter, embeddings included. */
  total: number;
  /** Everything but token/position embeddings and the (untied) output head. */
  nonEmbedding: number;
  /** Weights of the prunable linear layers (attention projections, FFN matrices; MLP layers). */
  linear: number;
}

/** Hidden width of the FFN: `ffnMult·dModel`, rounded to a whole neuron. */
export function ffnWidth(dModel: number, ffnMult: number): number {
  return Math.max(1, Math.round(ffnMult * dModel));
}

/** Weights of one FFN block (no biases anywhere in our models). */
function ffnWeights(dModel: number, ffnMult: number, ffn: 'gated' | 'plain'): number {
  const dFF = ffnWidth(dModel, ffnMult);
  return (ffn === 'gated' ? 3 : 2) * dModel * dFF;
}

/**
 * Counts what the models in `model/` allocate, exactly (a unit test checks it against the tensors).
 * MLP: input projection [inputDim, d], per block RMSNorm gain + FFN, final RMSNorm gain, head [d, outputDim].
 * Transformer: token embedding, optional learned positions, per block two RMSNorm gains + Wqkv [d,3d]
 * + Wo [d,d] + FFN, final RMSNorm gain, untied head [d, vocab] unless tied.
 */
export function countParams(model: ModelConfig): ParamCounts {
  const d = model.dModel;
  const blockFfn = ffnWeights(d, model.ffnMult, model.ffn);
  if (model.family === 'mlp') {
    const linear = model.inputDim * d + model.nLayers * blockFfn + d * model.outputDim;
    const norms = model.nLayers * d + d;
    // The MLP has no embeddings: its input and output projections count as non-embedding weights.
    return { total: linear + norms, nonEmbedding: linear + norms, linear };
  }
  const attention = 4 * d * d;
  const perBlock = attention + blockFfn + 2 * d;
  const nonEmbedding = model.nLayers * perBlock + d;
  const tokenEmbedding = model.vocabSize * d;
  const positions = model.positions === 'learned' ? model.seqLen * d : 0;
  const head = model.tiedEmbeddings ? 0 : d * model.vocabSize;
  return {
    total: nonEmbedding + tokenEmbedding + positions + head,
    nonEmbedding,
    linear: model.nLayers * (attention + blockFfn),
  };
}

/**
 * Bytes of a run's checkpoint data (engine/checkpoint.ts, SPCK0001: float32 parameters and both
 * AdamW moments, 3 × 4 bytes a parameter, plus a float32 mask per prunable weight, 4 bytes each,
 * once a pruning schedule has started); the JSON header (a few KiB) is not counted.
 */
export function checkpointBytes(model: ModelConfig, pruned: boolean): number {
  const { total, linear } = countParams(model);
  return 4 * (3 * total + (pruned ? linear : 0));
}

/** Non-embedding weights of a pre-norm Transformer block stack (matrices and norm gains). */
function stackParams(dModel: number, nLayers: number, ffnMult: number, ffn: 'gated' | 'plain'): number {
  return nLayers * (4 * dModel * dModel + ffnWeights(dModel, ffnMult, ffn) + 2 * dModel) + dModel;
}

/**
 * The head count for width `dModel` nearest (in ratio) to `wanted` among those that divide it with
 * an even head width (rotary embeddings rotate pairs); at least 1.
 */
export function headsNear(dModel: number, wanted: number): number {
  let best = 1;
  for (let h = 1; h <= dModel / 2; h++) {
    if (dModel % h !== 0 || (dModel / h) % 2 !== 0) continue;
    if (Math.abs(Math.log(h / wanted)) < Math.abs(Math.log(best / wanted))) best = h;
  }
  return best;
}

/** Widths are multiples of this, so small budgets can still be met closely. */
const WIDTH_STEP = 8;
/** A shape within this relative distance of the budget counts as meeting it. */
const BUDGET_TOLERANCE = 0.05;

/**
 * Width and depth for a non-embedding parameter `budget` at width/depth ratio `ratio = d/n`.
 * The closed form `d ≈ (P·r/(4 + k·m))^(1/3)` (k = 3 gated, 2 plain) centres a search over widths
 * (multiples of 8) and the two depths that best spend the budget at each width. Among shapes within
 * 5% of the budget the one nearest the requested ratio wins; if none is, the one nearest the budget.
 * Heads are the caller's choice (`headsNear`). `params` is exact.
 */
export function solveSize(
  budget: number,
  ratio: number,
  ffnMult: number,
  ffn: 'gated' | 'plain',
): { dModel: number; nLayers: number; params: number } {
  if (!(budget > 0) || !(ratio > 0)) throw new Error(`solveSize: budget and ratio must be > 0 (got ${budget}, ${ratio})`);
  const k = ffn === 'gated' ? 3 : 2;
  const dIdeal = Math.cbrt((budget * ratio) / (4 + k * ffnMult));
  type Shape = { dModel: number; nLayers: number; params: number; budgetErr: number; ratioErr: number };
  let best: Shape | null = null;
  const better = (a: Shape, b: Shape | null): boolean => {
    if (!b) return true;
    const aOk = a.budgetErr <= BUDGET_TOLERANCE;
    const bOk = b.budgetErr <= BUDGET_TOLERANCE;
    if (aOk !== bOk) return aOk;
    return aOk ? a.ratioErr < b.ratioErr : a.budgetErr < b.budgetErr;
  };
  const lo = Math.max(1, Math.floor((0.5 * dIdeal) / WIDTH_STEP));
  const hi = Math.max(lo, Math.ceil((2 * dIdeal) / WIDTH_STEP));
  for (let w = lo; w <= hi; w++) {
    const d = w * WIDTH_STEP;
    const perLayer = stackParams(d, 1, ffnMult, ffn) - d;
    const nExact = (budget - d) / perLayer;
    for (const n of new Set([Math.max(1, Math.floor(nExact)), Math.max(1, Math.ceil(nExact))])) {
      const params = stackParams(d, n, ffnMult, ffn);
      const shape = { dModel: d, nLayers: n, params, budgetErr: Math.abs(params - budget) / budget, ratioErr: Math.abs(Math.log(d / n / ratio)) };
      if (better(shape, best)) best = shape;
    }
  }
  const chosen = best!;
  return { dModel: chosen.dModel, nLayers: chosen.nLayers, params: chosen.params };
}

/**
 * Training FLOPs per token (forward + backward), the MFU convention of PaLM (Chowdhery et al. 2022,
 * App. B) and nanoGPT: 6·(linear weights + untied-or-tied head d·V) + 12·L·T·d for attention scores
 * and mixing. For the MLP a "token" is one example: 6·(linear weights).
 */
export function trainFlopsPerToken(model: ModelConfig): number {
  const linear = countParams(model).linear;
  if (model.family === 'mlp') return 6 * linear;
  return 6 * (linear + model.dModel * model.vocabSize) + 12 * model.nLayers * model.seqLen * model.dModel;
}

/** Tokens (examples for the MLP) in one training batch. */
export function tokensPerStep(model: ModelConfig, batchSize: number): number {
  return model.family === 'mlp' ? batchSize : batchSize * model.seqLen;
}

/** Parameters of the MLP (countParams' `total`): input projection, per block norm gain + FFN, final gain, head. */
function mlpParams(d: number, n: number, ffnMult: number, ffn: 'gated' | 'plain', inputDim: number, outputDim: number): number {
  return inputDim * d + n * (ffnWeights(d, ffnMult, ffn) + d) + d + d * outputDim;
}

/**
 * Width and depth of an MLP (model/mlp.ts) for a parameter `budget` at ratio `d/n`, counted with the
 * MLP's own parameters (countParams: the input and output projections are part of its budget, and
 * there is no attention). Same selection as solveSize: widths are multiples of 8; among shapes
 * within 5% of the budget the one nearest the ratio wins, else the one nearest the budget.
 */
export function solveMlpSize(
  budget: number, ratio: number, ffnMult: number, ffn: 'gated' | 'plain', inputDim: number, outputDim: number,
): { dModel: number; nLayers: number; params: number } {
  if (!(budget > 0) || !(ratio > 0)) throw new Error(`solveMlpSize: budget and ratio must be > 0 (got ${budget}, ${ratio})`);
  type Shape = { dModel: number; nLayers: number; params: number; budgetErr: number; ratioErr: number };
  let best: Shape | null = null;
  for (let d = WIDTH_STEP; mlpParams(d, 1, ffnMult, ffn, inputDim, outputDim) <= 2 * budget || d === WIDTH_STEP; d += WIDTH_STEP) {
    const perLayer = mlpParams(d, 2, ffnMult, ffn, inputDim, outputDim) - mlpParams(d, 1, ffnMult, ffn, inputDim, outputDim);
    const nExact = (budget - mlpParams(d, 0, ffnMult, ffn, inputDim, outputDim)) / perLayer;
    for (const n of new Set([Math.max(1, Math.floor(nExact)), Math.max(1, Math.ceil(nExact))])) {
      const params = mlpParams(d, n, ffnMult, ffn, inputDim, outputDim);
      const shape = { dModel: d, nLayers: n, params, budgetErr: Math.abs(params - budget) / budget, ratioErr: Math.abs(Math.log(d / n / ratio)) };
      const aOk = shape.budgetErr <= BUDGET_TOLERANCE, bOk = best !== null && best.budgetErr <= BUDGET_TOLERANCE;
      if (!best || (aOk !== bOk ? aOk : aOk ? shape.ratioErr < best.ratioErr : shape.budgetErr < best.budgetErr)) best = shape;
    }
  }
  const chosen = best!;
  return { dModel: chosen.dModel, nLayers: chosen.nLayers, params: chosen.params };
}

/** Solves a `{budget, ratio}` size for the model family of `base` (MLP: its own count; Transformer: solveSize). */
export function solveSizeFor(base: ModelConfig, budget: number, ratio: number): { dModel: number; nLayers: number; params: number } {
  if (base.family === 'mlp') {
    const m: MlpModelConfig = base;
    return solveMlpSize(budget, ratio, m.ffnMult, m.ffn, m.inputDim, m.outputDim);
  }
  return solveSize(budget, ratio, base.ffnMult, base.ffn);
}
