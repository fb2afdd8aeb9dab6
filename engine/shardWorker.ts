// Worker-thread side of data-parallel training: computes one microbatch's loss and gradients.
// Messages in: {kind:'init', model, backend} then {kind:'step', params, inputs, labels, ...}.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../domain/spec';
import { initBackend } from './backend';
import { MlpNetwork } from './model/mlp';
import type { Network } from './model/network';
import { TransformerNetwork } from './model/transformer';
import type { ShardRequest, ShardResult, WorkerInit } from './shards';
import type { BackendName } from './types';

let network: Network | null = null;

async function init(msg: WorkerInit): Promise<void> {
  await initBackend(msg.backend as BackendName, msg.nativeBackendDir ? [{ label: msg.nativeBackendDir, request: msg.nativeBackendDir }] : []);
  network = msg.model.family === 'mlp' ? new MlpNetwork(msg.model as ModelConfig & { family: 'mlp' }) : new TransformerNetwork(msg.model);
}

function step(msg: ShardRequest): ShardResult {
  const net = network!;
  const params = msg.params.map((p, i) => tf.tensor(p, net.specs[i].shape, 'float32'));
  const inputs = msg.inputsDtype === 'int32' ? tf.tensor(new Int32Array(msg.inputs), msg.inputsShape, 'int32') : tf.tensor(new Float32Array(msg.inputs), msg.inputsShape, 'float32');
  const labels = tf.tensor1d(new Int32Array(msg.labels), 'int32');
  const { loss, grads } = tf.tidy(() => net.lossAndGrads(params, { inputs, labels }));
  const result: ShardResult = { loss: loss.dataSync()[0], grads: grads.map((g) => (g.dataSync() as Float32Array).buffer as ArrayBuffer) };
  tf.dispose([loss, ...grads, ...params, inputs, labels]);
  return result;
}

parentPort!.on('message', (msg: WorkerInit | ShardRequest) => {
  if (msg.kind === 'init') {
    init(msg).then(
      () => parentPort!.postMessage({ kind: 'ready' }),
      (err: unknown) => parentPort!.postMessage({ kind: 'error', message: String(err) }),
    );
    return;
  }
  try {
    const r = step(msg);
    parentPort!.postMessage(r, r.grads);
  } catch (err) {
    parentPort!.postMessage({ kind: 'error', message: err instanceof Error ? err.stack : String(err) });
  }
});
