// Small run configurations for tests, benches and demos.
import { enginePaths } from '../stack/paths';
import { OPTIM_DEFAULTS, PRUNING_DEFAULTS } from '../domain/defaults';
import type { Activation, RunConfig } from '../domain/spec';

export function tinyMlpConfig(over: Partial<RunConfig> = {}, activation: Activation = 'relu'): RunConfig {
  return {
    model: { family: 'mlp', activation, topK: null, dModel: 32, nLayers: 2, ffnMult: 4, ffn: 'plain', inputDim: 16, outputDim: 8 },
    data: { kind: 'teacher', valSize: 128 },
    optim: { ...OPTIM_DEFAULTS },
    training: { steps: 100, batchSize: 64, evalEvery: 50 },
    pruning: { ...PRUNING_DEFAULTS },
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
    optim: { ...OPTIM_DEFAULTS },
    training: { steps: 100, batchSize: 16, evalEvery: 50 },
    pruning: { ...PRUNING_DEFAULTS },
    measure: { metrics: ['exact', 'cett-0.2'], primary: 'cett-0.2' },
    seed: 1,
    ...over,
  };
}

/** The engine's paths as a worker on this checkout would get them. */
export const testPaths = enginePaths();
