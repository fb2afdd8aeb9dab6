// The Lazy Neuron test bed: input projection → nLayers pre-norm residual FFN blocks → RMSNorm → head.
// Residual + pre-norm keeps deep stacks trainable at one learning rate, and makes each block the
// same FFN the Transformer uses, so sparsity is measured identically in both families.
import * as tf from '@tensorflow/tfjs-core';
import type { MlpModelConfig } from '../../domain/spec';
import { ffnWidth } from '../../domain/sizing';
import { ffnBackward, ffnForward, type FfnCache, type FfnWeights } from './ffn';
import { rmsNorm, rmsNormBackward, softmaxCrossEntropy, type RmsCache } from './layers';
import type { Batch, ForwardProbe, Network, ParamSpec } from './network';

/** FFN param specs for block `l`, in the order gate?, up, down. Shared with the Transformer. */
export function ffnSpecs(prefix: string, d: number, dFF: number, gated: boolean, nLayers: number): ParamSpec[] {
  const inStd = 1 / Math.sqrt(d);
  // Residual branches are scaled down with depth (GPT-2) so the stream's variance stays O(1).
  const downStd = 1 / Math.sqrt(dFF) / Math.sqrt(2 * nLayers);
  const specs: ParamSpec[] = [];
  if (gated) specs.push({ name: `${prefix}.gate`, shape: [d, dFF], init: { kind: 'normal', std: inStd }, prunable: true, decay: true });
  specs.push({ name: `${prefix}.${gated ? 'up' : 'in'}`, shape: [d, dFF], init: { kind: 'normal', std: inStd }, prunable: true, decay: true });
  specs.push({ name: `${prefix}.down`, shape: [dFF, d], init: { kind: 'normal', std: downStd }, prunable: true, decay: true });
  return specs;
}

export function gainSpec(name: string, d: number): ParamSpec {
  return { name, shape: [d], init: { kind: 'ones' }, prunable: false, decay: false };
}

export class MlpNetwork implements Network {
  readonly specs: ParamSpec[];
  readonly ffnLayers: number;
  private readonly gated: boolean;
  /** Index of each block's first param (its norm gain) in `specs`. */
  private readonly blockStart: number[] = [];

  constructor(private readonly cfg: MlpModelConfig) {
    const d = cfg.dModel;
    const dFF = ffnWidth(d, cfg.ffnMult);
    this.gated = cfg.ffn === 'gated';
    this.ffnLayers = cfg.nLayers;
    const specs: ParamSpec[] = [
      { name: 'input', shape: [cfg.inputDim, d], init: { kind: 'normal', std: 1 / Math.sqrt(cfg.inputDim) }, prunable: true, decay: true },
    ];
    for (let l = 0; l < cfg.nLayers; l++) {
      this.blockStart.push(specs.length);
      specs.push(gainSpec(`block${l}.norm`, d), ...ffnSpecs(`block${l}.ffn`, d, dFF, this.gated, cfg.nLayers));
    }
    specs.push(gainSpec('final.norm', d));
    specs.push({ name: 'head', shape: [d, cfg.outputDim], init: { kind: 'normal', std: 1 / Math.sqrt(d) }, prunable: true, decay: true });
    this.specs = specs;
  }

  private block(params: tf.Tensor[], l: number): { gain: tf.Tensor; ffn: FfnWeights } {
    const i = this.blockStart[l];
    const gain = params[i] as tf.Tensor;
    if (this.gated) return { gain, ffn: { gate: params[i + 1] as tf.Tensor, up: params[i + 2] as tf.Tensor, down: params[i + 3] as tf.Tensor } };
    return { gain, ffn: { gate: null, up: params[i + 1] as tf.Tensor, down: params[i + 2] as tf.Tensor } };
  }

  private forward(params: tf.Tensor[], batch: Batch, probe?: ForwardProbe) {
    const n = params.length;
    const input = batch.inputs as tf.Tensor;
    let x = tf.matMul(input, params[0] as tf.Tensor);
    const caches: { norm: RmsCache; ffn: FfnCache }[] = [];
    for (let l = 0; l < this.cfg.nLayers; l++) {
      const { gain, ffn } = this.block(params, l);
      const normed = rmsNorm(x, gain);
      const f = ffnForward(normed.y, ffn, this.cfg.activation, this.cfg.topK, l, probe);
      caches.push({ norm: normed.cache, ffn: f.cache });
      x = tf.add(x, f.out);
    }
    const final = rmsNorm(x, params[n - 2] as tf.Tensor);
    const logits = tf.matMul(final.y, params[n - 1] as tf.Tensor);
    return { caches, final, logits };
  }

  loss(params: tf.Tensor[], batch: Batch, probe?: ForwardProbe): tf.Scalar {
    const { logits } = this.forward(params, batch, probe);
    return softmaxCrossEntropy(logits, batch.labels, false).loss;
  }

  lossAndGrads(params: tf.Tensor[], batch: Batch): { loss: tf.Scalar; grads: tf.Tensor[] } {
    const n = params.length;
    const { caches, final, logits } = this.forward(params, batch);
    const { loss, dLogits } = softmaxCrossEntropy(logits, batch.labels, true);
    const grads: tf.Tensor[] = new Array(n);
    const head = params[n - 1] as tf.Tensor;
    grads[n - 1] = tf.matMul(tf.transpose(final.y), dLogits!);
    const dFinal = rmsNormBackward(final.cache, params[n - 2] as tf.Tensor, tf.matMul(dLogits!, tf.transpose(head)));
    grads[n - 2] = dFinal.dg;
    let dx = dFinal.dx;
    for (let l = this.cfg.nLayers - 1; l >= 0; l--) {
      const { gain, ffn } = this.block(params, l);
      const f = ffnBackward(caches[l].ffn, ffn, this.cfg.activation, dx);
      const norm = rmsNormBackward(caches[l].norm, gain, f.dx);
      const i = this.blockStart[l];
      grads[i] = norm.dg;
      if (this.gated) {
        grads[i + 1] = f.dGate!;
        grads[i + 2] = f.dUp;
        grads[i + 3] = f.dDown;
      } else {
        grads[i + 1] = f.dUp;
        grads[i + 2] = f.dDown;
      }
      dx = tf.add(dx, norm.dx);
    }
    grads[0] = tf.matMul(tf.transpose(batch.inputs as tf.Tensor), dx);
    return { loss, grads };
  }

  dispose(): void {
    // Holds no tensors of its own.
  }
}
