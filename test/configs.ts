// Small run configurations for tests, benches and demos.
import type { Activation, RunConfig } from '../domain/spec';

export function tinyMlpConfig(over: Partial<RunConfig> = {}, activation: Activation = 'relu'): RunConfig {
  return {
    model: { family: 'mlp', activation, topK: null, dModel: 32, nLayers: 2, ffnMult: 4, ffn: 'plain', inputDim: 16, outputDim: 8 },
    data: { kind: 'teacher', valSize: 128 },
    optim: { lr: 3e-3, schedule: 'cosine', warmup: 0.05, decay: 0.2, minLrRatio: 0.1, weightDecay: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, gradClip: 1 },
    training: { steps: 100, batchSize: 64, evalEvery: 50 },
    pruning: { schedule: 'none', start: 0.25, end: 0.75, initialSparsity: 0, finalSparsity: 0, every: 10, scope: 'global' },
    measure: { metrics: ['exact', 'cett-0.2'], primary: 'cett-0.2' },
    seed: 1,
    ...over,
  };
}

export function tinyTransformerConfig(over: Partial<RunConfig> = {}, activation: Activation = 'relu'): RunConfig {
  return {
    model: {
      family: 'transformer', activation, topK: null, dModel: 64, nLayers: 2, nHeads: 2, ffnMult: 4, ffn: 'gated',
      positions: 'rotary', tiedEmbeddings: true, seqLen: 64, vocabSize: 512,
    },
    data: { kind: 'brown', valSize: 16 },
    optim: { lr: 3e-3, schedule: 'cosine', warmup: 0.05, decay: 0.2, minLrRatio: 0.1, weightDecay: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, gradClip: 1 },
    training: { steps: 100, batchSize: 16, evalEvery: 50 },
    pruning: { schedule: 'none', start: 0.25, end: 0.75, initialSparsity: 0, finalSparsity: 0, every: 10, scope: 'global' },
    measure: { metrics: ['exact', 'cett-0.2'], primary: 'cett-0.2' },
    seed: 1,
    ...over,
  };
}
