// Decoder-only Transformer LM: token embedding (+ learned positions or RoPE), nLayers pre-norm
// blocks (RMSNorm → causal attention → residual, RMSNorm → FFN → residual), final RMSNorm, and a
// head tied to the embedding or separate. Forward and backward are written out by hand (see layers.ts).
import * as tf from '@tensorflow/tfjs-core';
import type { TransformerModelConfig } from '../../domain/spec';
import { ffnWidth } from '../../domain/sizing';
import { attentionBackward, attentionForward, attentionTables, type AttentionCache, type AttentionShape, type AttentionTables } from './attention';
import { ffnBackward, ffnForward, type FfnCache, type FfnWeights } from './ffn';
import { disposeCache, rmsNorm, rmsNormBackward, scoped, softmaxCrossEntropy, type RmsCache } from './layers';
import { ffnSpecs, gainSpec } from './mlp';
import type { Batch, ForwardProbe, Network, ParamSpec } from './network';

interface BlockIndex {
  norm1: number;
  qkv: number;
  o: number;
  norm2: number;
  /** gate (gated only), up/in, down. */
  ffn: number;
}

interface BlockCache {
  norm1: RmsCache;
  attn: AttentionCache;
  norm2: RmsCache;
  ffn: FfnCache;
}

export class TransformerNetwork implements Network {
  readonly specs: ParamSpec[];
  readonly ffnLayers: number;
  private readonly blocks: BlockIndex[] = [];
  private readonly posIndex: number | null;
  private readonly finalNorm: number;
  private readonly headIndex: number | null;
  /** Created on first use, so building a network only to read its specs allocates nothing. */
  private tablesCache: AttentionTables | null = null;

  constructor(private readonly cfg: TransformerModelConfig) {
    const d = cfg.dModel;
    if (d % cfg.nHeads !== 0 || (d / cfg.nHeads) % 2 !== 0) {
      throw new Error(`model: dModel ${d} must split into ${cfg.nHeads} heads of even width`);
    }
    const dFF = ffnWidth(d, cfg.ffnMult);
    const gated = cfg.ffn === 'gated';
    const std = 1 / Math.sqrt(d);
    const residualStd = std / Math.sqrt(2 * cfg.nLayers);
    const specs: ParamSpec[] = [{ name: 'tok.emb', shape: [cfg.vocabSize, d], init: { kind: 'normal', std }, prunable: false, decay: true }];
    this.posIndex = null;
    if (cfg.positions === 'learned') {
      this.posIndex = specs.length;
      specs.push({ name: 'pos.emb', shape: [cfg.seqLen, d], init: { kind: 'normal', std }, prunable: false, decay: true });
    }
    for (let l = 0; l < cfg.nLayers; l++) {
      const b: BlockIndex = { norm1: specs.length, qkv: specs.length + 1, o: specs.length + 2, norm2: specs.length + 3, ffn: specs.length + 4 };
      specs.push(
        gainSpec(`block${l}.norm1`, d),
        { name: `block${l}.attn.qkv`, shape: [d, 3 * d], init: { kind: 'normal', std }, prunable: true, decay: true },
        { name: `block${l}.attn.o`, shape: [d, d], init: { kind: 'normal', std: residualStd }, prunable: true, decay: true },
        gainSpec(`block${l}.norm2`, d),
        ...ffnSpecs(`block${l}.ffn`, d, dFF, gated, cfg.nLayers),
      );
      this.blocks.push(b);
    }
    this.finalNorm = specs.length;
    specs.push(gainSpec('final.norm', d));
    this.headIndex = null;
    if (!cfg.tiedEmbeddings) {
      this.headIndex = specs.length;
      specs.push({ name: 'head', shape: [d, cfg.vocabSize], init: { kind: 'normal', std }, prunable: false, decay: true });
    }
    this.specs = specs;
    this.ffnLayers = cfg.nLayers;
  }

  private get tables(): AttentionTables {
    if (!this.tablesCache) {
      const c = this.cfg;
      const t = attentionTables(c.seqLen, c.dModel, c.nHeads, c.positions === 'rotary');
      // First use is inside the step's tf.tidy: keep them, they live as long as the network.
      [t.causalMask, t.cos, t.sinSigned].forEach((x) => x && tf.keep(x));
      this.tablesCache = t;
    }
    return this.tablesCache;
  }

  private shape(batch: Batch): AttentionShape {
    const T = this.cfg.seqLen;
    return { batch: batch.inputs.size / T, seqLen: T, heads: this.cfg.nHeads, headDim: this.cfg.dModel / this.cfg.nHeads };
  }

  private ffnWeights(params: tf.Tensor[], b: BlockIndex): FfnWeights {
    const at = (i: number) => params[b.ffn + i] as tf.Tensor;
    return this.cfg.ffn === 'gated' ? { gate: at(0), up: at(1), down: at(2) } : { gate: null, up: at(0), down: at(1) };
  }

  /** Forward pass; block activations are kept for the backward only when `keepCaches`. */
  private forward(params: tf.Tensor[], batch: Batch, keepCaches: boolean, probe?: ForwardProbe) {
    const s = this.shape(batch);
    const emb = params[0];
    let x = scoped(() => {
      const e = tf.gather(emb, batch.inputs);
      if (this.posIndex == null) return e;
      return tf.reshape(tf.add(tf.reshape(e, [s.batch, s.seqLen, -1]), params[this.posIndex]), e.shape);
    });
    const caches: BlockCache[] = [];
    this.blocks.forEach((b, l) => {
      const input = x;
      const r = scoped(() => {
        const n1 = rmsNorm(input, params[b.norm1]);
        const attn = attentionForward(n1.y, params[b.qkv], params[b.o], s, this.tables);
        const mid = tf.add(input, attn.out);
        const n2 = rmsNorm(mid, params[b.norm2]);
        const f = ffnForward(n2.y, this.ffnWeights(params, b), this.cfg.activation, this.cfg.topK, l, probe);
        const out = tf.add(mid, f.out);
        return { x: out, cache: keepCaches ? { norm1: n1.cache, attn: attn.cache, norm2: n2.cache, ffn: f.cache } : null };
      });
      // Without caches the block input is garbage now; with them it lives on inside norm1's cache.
      if (!keepCaches) input.dispose();
      if (r.cache) caches.push(r.cache);
      x = r.x;
    });
    const final = scoped(() => rmsNorm(x, params[this.finalNorm]));
    const head = this.headIndex != null ? params[this.headIndex] : null;
    const logits = scoped(() => tf.matMul(final.y, head ?? tf.transpose(emb)));
    return { s, caches, final, logits };
  }

  loss(params: tf.Tensor[], batch: Batch, probe?: ForwardProbe): tf.Scalar {
    return softmaxCrossEntropy(this.forward(params, batch, false, probe).logits, batch.labels, false).loss;
  }

  lossAndGrads(params: tf.Tensor[], batch: Batch): { loss: tf.Scalar; grads: tf.Tensor[] } {
    const { s, caches, final, logits } = this.forward(params, batch, true);
    const { loss, dLogits } = scoped(() => softmaxCrossEntropy(logits, batch.labels, true));
    logits.dispose();
    const grads: tf.Tensor[] = new Array(params.length);
    const emb = params[0];
    const head = scoped(() => {
      const finalT = tf.transpose(final.y);
      if (this.headIndex != null) {
        return { dW: tf.matMul(finalT, dLogits!), dFinal: tf.matMul(dLogits!, tf.transpose(params[this.headIndex])) };
      }
      // logits = y·Eᵀ: dy = dLogits·E (plain matMul), dE = (yᵀ·dLogits)ᵀ (transpose the small [d,V] result).
      return { dW: tf.transpose(tf.matMul(finalT, dLogits!)), dFinal: tf.matMul(dLogits!, emb) };
    });
    dLogits!.dispose();
    let dEmbHead: tf.Tensor | null = null;
    if (this.headIndex != null) grads[this.headIndex] = head.dW;
    else dEmbHead = head.dW;
    const fn = scoped(() => rmsNormBackward(final.cache, params[this.finalNorm], head.dFinal));
    disposeCache([final, head.dFinal]);
    grads[this.finalNorm] = fn.dg;
    let dx = fn.dx;
    for (let l = this.blocks.length - 1; l >= 0; l--) {
      const b = this.blocks[l];
      const c = caches[l];
      const dIn = dx;
      const r = scoped(() => {
        const w = this.ffnWeights(params, b);
        const f = ffnBackward(c.ffn, w, this.cfg.activation, dIn);
        const n2 = rmsNormBackward(c.norm2, params[b.norm2], f.dx);
        const dMid = tf.add(dIn, n2.dx);
        const a = attentionBackward(c.attn, params[b.qkv], params[b.o], s, this.tables, dMid);
        const n1 = rmsNormBackward(c.norm1, params[b.norm1], a.dx);
        const ffnGrads = w.gate ? [f.dGate!, f.dUp, f.dDown] : [f.dUp, f.dDown];
        return { dx: tf.add(dMid, n1.dx), norm1: n1.dg, qkv: a.dQkv, o: a.dO, norm2: n2.dg, ffn: ffnGrads };
      });
      disposeCache([c, dIn]);
      grads[b.norm1] = r.norm1;
      grads[b.qkv] = r.qkv;
      grads[b.o] = r.o;
      grads[b.norm2] = r.norm2;
      r.ffn.forEach((g, i) => (grads[b.ffn + i] = g));
      dx = r.dx;
    }
    if (this.posIndex != null) {
      const d = dx;
      grads[this.posIndex] = scoped(() => tf.sum(tf.reshape(d, [s.batch, s.seqLen, -1]), 0));
    }
    const dEmb = scatterAddRows(batch.inputs, dx, this.cfg.vocabSize);
    dx.dispose();
    grads[0] = dEmbHead ? scoped(() => tf.add(dEmb, dEmbHead!)) : dEmb;
    if (dEmbHead) disposeCache([dEmb, dEmbHead]);
    return { loss, grads };
  }

  dispose(): void {
    const t = this.tablesCache;
    if (t) tf.dispose([t.causalMask, t.cos, t.sinSigned].filter((x): x is tf.Tensor => x != null));
    this.tablesCache = null;
  }
}

/** dE[id] += dx[row] for every row: the embedding gradient. Done in JS because tfjs-wasm has no
 *  UnsortedSegmentSum kernel; it is O(N·d), negligible beside the matMuls. */
function scatterAddRows(ids: tf.Tensor, dx: tf.Tensor, vocab: number): tf.Tensor {
  const d = dx.shape[1]!;
  const idv = ids.dataSync();
  const src = dx.dataSync();
  const out = new Float32Array(vocab * d);
  for (let r = 0; r < idv.length; r++) {
    const o = idv[r] * d;
    const sOff = r * d;
    for (let j = 0; j < d; j++) out[o + j] += src[sOff + j];
  }
  return tf.tensor2d(out, [vocab, d]);
}
