// Building a Trainer from a RunConfig: network, data, and fresh or checkpointed state.
import * as tf from '@tensorflow/tfjs-core';
import { canonicalJson } from '../domain/hash';
import type { RunConfig } from '../domain/spec';
import { initBackend } from './backend';
import { decodeCheckpoint, type CheckpointContents, type CheckpointCounters } from './checkpoint';
import { loadBrownData } from './data/brown';
import type { DataSource } from './data/source';
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

export function buildData(config: RunConfig, paths: EnginePaths): DataSource {
  const { model, data } = config;
  if (model.family === 'mlp') {
    if (data.kind === 'brown') throw new Error(`data.kind: 'brown' needs model.family 'transformer' (got 'mlp')`);
    return new SyntheticData(model, data.kind, config.seed, config.training.batchSize, data.valSize);
  }
  if (data.kind !== 'brown') throw new Error(`data.kind: '${data.kind}' needs model.family 'mlp' (the transformer trains on 'brown')`);
  return loadBrownData(model, config.seed, config.training.batchSize, data.valSize, paths.cacheDir);
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
  opts: { paths: EnginePaths; checkpoint?: Uint8Array | CheckpointContents; backend?: BackendName },
): Promise<NetworkTrainer> {
  const backend = await initBackend(opts.backend, opts.paths.nativeCandidates);
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
