// Building a Trainer from a RunConfig: network, data, and fresh or checkpointed state.
import * as tf from '@tensorflow/tfjs-core';
import { canonicalJson } from '../domain/hash';
import type { RunConfig } from '../domain/spec';
import { initBackend } from './backend';
import { decodeCheckpoint, type CheckpointContents, type CheckpointCounters } from './checkpoint';
import { loadBrownData } from './data/brown';
import type { DataSource } from './data/source';
import { findPreparedText, prepareText } from './data/textCorpus';
import { TokenFileData, verifyTokenFile, type DataProgress } from './data/tokenFile';
import { SyntheticData } from './data/synthetic';
import { MlpNetwork } from './model/mlp';
import type { Network, ParamSpec } from './model/network';
import { TransformerNetwork } from './model/transformer';
import { zeroAdamState } from './optimizer';
import { CounterRng, STREAM } from './prng';
import { countParams } from '../domain/sizing';
import { NetworkTrainer, type TrainerState } from './trainer';
import type { BackendName, EnginePaths } from './types';

/** What a checkpoint must agree with to be resumed: the model, the data and the seed (canonical JSON, so a config that went through Postgres jsonb still matches). */
export function checkpointKey(config: RunConfig): string {
  return canonicalJson({ model: config.model, data: config.data, seed: config.seed });
}

export function buildNetwork(config: RunConfig): Network {
  return config.model.family === 'mlp' ? new MlpNetwork(config.model) : new TransformerNetwork(config.model);
}

/**
 * The run's data source. Sync: a `text` corpus must have been tokenised into the cache first
 * (`prepareData`, which createTrainer awaits). Bad files throw DataFileError (file, offset, host).
 */
export function buildData(config: RunConfig, paths: EnginePaths): DataSource {
  const { model, data } = config;
  const { seed } = config;
  const { batchSize } = config.training;
  if (model.family === 'mlp') {
    if (data.kind !== 'teacher' && data.kind !== 'random-labels') throw new Error(`data.kind: '${data.kind}' needs model.family 'transformer' (got 'mlp')`);
    return new SyntheticData(model, data.kind, seed, batchSize, data.valSize);
  }
  if (data.kind === 'brown') return loadBrownData(model, seed, batchSize, data.valSize, paths.cacheDir);
  if (data.kind === 'tokens' || data.kind === 'text') {
    if (model.vocabSize < data.vocabSize) throw new Error(`model.vocabSize ${model.vocabSize} is smaller than data.vocabSize ${data.vocabSize}`);
    const files = data.kind === 'tokens' ? data : findPreparedText(data, paths.cacheDir);
    if (!files) throw new Error(`data.path: ${(data as { path: string }).path} is not tokenised in ${paths.cacheDir} yet (prepareData, or \`sparsity data prepare\`)`);
    return new TokenFileData(files, model.seqLen, seed, batchSize, data.valSize);
  }
  throw new Error(`data.kind: '${data.kind}' needs model.family 'mlp' (the transformer trains on text)`);
}

/**
 * What must happen once before `buildData` on a host: a `tokens` file pair is checked in full
 * (every id < vocabSize; remembered in the cache), a `text` corpus is tokenised into the cache
 * (or found there). `progress` is awaited between chunks (heartbeats, progress bars).
 */
export async function prepareData(config: RunConfig, paths: EnginePaths, progress?: DataProgress): Promise<void> {
  const { data } = config;
  if (data.kind === 'tokens') {
    for (const file of [data.train, data.val]) await verifyTokenFile(file, data.dtype, data.vocabSize, paths.cacheDir, progress);
  } else if (data.kind === 'text') {
    await prepareText(data, paths.cacheDir, progress);
  }
}

/** Fresh parameters: each tensor from its own counter stream, so adding a layer never shifts another's init. */
export function initialParams(specs: ParamSpec[], seed: number): tf.Tensor[] {
  return specs.map((s, i) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    if (s.init.kind === 'ones') return tf.ones(s.shape);
    return tf.tensor(new CounterRng(seed, STREAM.init, i).normals(size, s.init.std), s.shape, 'float32');
  });
}

function restoreState(config: RunConfig, specs: ParamSpec[], checkpoint: Uint8Array | CheckpointContents): TrainerState {
  const { counters, groups } = checkpoint instanceof Uint8Array ? decodeCheckpoint(checkpoint) : checkpoint;
  const expected = checkpointKey(config);
  const fail = (why: string): never => {
    tf.dispose(Object.values(groups).flat().filter((t): t is tf.Tensor => t != null));
    throw new Error(`createTrainer: checkpoint does not fit this run: ${why}`);
  };
  if (counters.configKey !== expected) fail('model, data or seed differ from the checkpoint');
  const params = groups['params'];
  const m = groups['adam.m'];
  const v = groups['adam.v'];
  const masks = groups['masks'] ?? specs.map(() => null);
  if (!params || !m || !v || params.length !== specs.length) fail(`expected ${specs.length} parameter tensors`);
  specs.forEach((s, i) => {
    if (!params[i] || params[i]!.shape.join('x') !== s.shape.join('x')) fail(`${s.name} should be [${s.shape}]`);
  });
  return { params: params as tf.Tensor[], adam: { m: m as tf.Tensor[], v: v as tf.Tensor[] }, masks, counters };
}

export async function createTrainer(
  config: RunConfig,
  opts: { paths: EnginePaths; checkpoint?: Uint8Array | CheckpointContents; backend?: BackendName; progress?: DataProgress },
): Promise<NetworkTrainer> {
  const backend = await initBackend(opts.backend, opts.paths.nativeCandidates);
  await prepareData(config, opts.paths, opts.progress);
  const network = buildNetwork(config);
  const data = buildData(config, opts.paths);
  let state: TrainerState;
  if (opts.checkpoint) {
    state = restoreState(config, network.specs, opts.checkpoint);
  } else {
    const params = initialParams(network.specs, config.seed);
    const counters: CheckpointCounters = { step: 0, tokens: 0, nonzeroParamSteps: 0, configKey: checkpointKey(config) };
    state = { params, adam: zeroAdamState(params), masks: network.specs.map(() => null), counters };
  }
  return new NetworkTrainer(config, backend, countParams(config.model), network, data, state);
}
