// The one heavy loop of the CETT curve: per token, the norms of the running sums of the neuron outputs
// h_j·W_down[order_j,:] taken in ascending contribution order (see ./layerStats). T·F·D multiply-adds,
// which plain JS runs at ~3–5 ns each. A tiny hand-assembled WebAssembly module does it with float64x2
// SIMD (the wasm backend's own kernels are no help: a gather + cumsum along the neuron axis measured
// 5–10× slower than plain JS, on both the wasm and tensorflow backends).
//
// Same arithmetic as the JS loop: acc[d] = acc[d] + h·w[d] in float64 (W_down's float32 values widened
// exactly), so the running sums are bit-identical; only ‖acc‖² is summed in four interleaved partial
// sums instead of one, a float-rounding difference (~1e-16 relative). When WebAssembly SIMD is
// unavailable, or dModel is not a multiple of 4, the JS loop runs instead.

/**
 * norms[s·F + j] = ‖Σ_{j' ≤ j} hs[s·F + j']·W[order[s·F + j'], :]‖ for s < S, j < F, accumulated in
 * float64 in that order; entries with hs = 0 add nothing (their norm is the previous one).
 */
export function prefixNorms(w: Float32Array, F: number, D: number, order: Uint32Array, hs: Float64Array, S: number): Float64Array {
  const kernel = D > 0 && D % 4 === 0 ? wasmKernel() : null;
  return kernel === null ? prefixNormsJs(w, F, D, order, hs, S) : prefixNormsWasm(kernel, w, F, D, order, hs, S);
}

/** The plain-JS loop (the reference arithmetic: acc[d] += h·w[d] in float64, sq = Σ acc[d]² in order). */
export function prefixNormsJs(w: Float32Array, F: number, D: number, order: Uint32Array, hs: Float64Array, S: number): Float64Array {
  const norms = new Float64Array(S * F);
  const acc = new Float64Array(D);
  for (let s = 0; s < S; s++) {
    const row = s * F;
    acc.fill(0);
    let last = 0;
    for (let j = 0; j < F; j++) {
      const hv = hs[row + j];
      if (hv !== 0) {
        const base = order[row + j] * D;
        let sq = 0;
        for (let d = 0; d < D; d++) {
          const a = acc[d] + hv * w[base + d];
          acc[d] = a;
          sq += a * a;
        }
        last = Math.sqrt(sq);
      }
      norms[row + j] = last;
    }
  }
  return norms;
}

// The few WebAssembly APIs used (the project's TS lib has no DOM/WebAssembly typings).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}

interface Kernel {
  memory: WasmMemory;
  /** tok(w, acc, order, hs, out, F, D): one token; byte offsets into memory. */
  tok: (w: number, acc: number, order: number, hs: number, out: number, F: number, D: number) => void;
}

let cached: Kernel | null | undefined;

/** The compiled kernel, or null where WebAssembly (with SIMD) is not available. */
export function wasmKernel(): Kernel | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env.SPARSITY_NO_WASM_KERNEL) return cached;
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    const bytes = kernelModule();
    if (wasm === undefined || !wasm.validate(bytes)) return cached;
    const instance = new wasm.Instance(new wasm.Module(bytes), {});
    const ex = instance.exports as { mem: WasmMemory; tok: Kernel['tok'] };
    cached = { memory: ex.mem, tok: ex.tok };
  } catch {
    cached = null;
  }
  return cached;
}

/** Tokens per wasm batch: bounds the memory the kernel holds (order, hs and out of a batch). */
const BATCH_TOKENS = 128;

export function prefixNormsWasm(k: Kernel, w: Float32Array, F: number, D: number, order: Uint32Array, hs: Float64Array, S: number): Float64Array {
  const norms = new Float64Array(S * F);
  const B = Math.max(1, Math.min(S, BATCH_TOKENS));
  // Layout (bytes, all 16-aligned): W [F·D f64] | acc [D f64] | hs [B·F f64] | out [B·F f64] | order [B·F u32]
  const align = (x: number) => Math.ceil(x / 16) * 16;
  const wPtr = 0;
  const accPtr = align(wPtr + F * D * 8);
  const hsPtr = align(accPtr + D * 8);
  const outPtr = align(hsPtr + B * F * 8);
  const ordPtr = align(outPtr + B * F * 8);
  const end = ordPtr + B * F * 4;
  const have = k.memory.buffer.byteLength;
  if (end > have) k.memory.grow(Math.ceil((end - have) / 65536));
  const buf = k.memory.buffer;
  const wView = new Float64Array(buf, wPtr, F * D);
  for (let x = 0; x < F * D; x++) wView[x] = w[x];
  const hsView = new Float64Array(buf, hsPtr, B * F);
  const outView = new Float64Array(buf, outPtr, B * F);
  const ordView = new Uint32Array(buf, ordPtr, B * F);
  for (let s0 = 0; s0 < S; s0 += B) {
    const n = Math.min(B, S - s0);
    hsView.set(hs.subarray(s0 * F, (s0 + n) * F));
    ordView.set(order.subarray(s0 * F, (s0 + n) * F));
    for (let s = 0; s < n; s++) k.tok(wPtr, accPtr, ordPtr + s * F * 4, hsPtr + s * F * 8, outPtr + s * F * 8, F, D);
    norms.set(outView.subarray(0, n * F), s0 * F);
  }
  return norms;
}

// ---- the module, assembled by hand (no toolchain needed) ----

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

function kernelModule(): Uint8Array {
  const I32 = 0x7f;
  const F64 = 0x7c;
  const V128 = 0x7b;
  // params: 0 w, 1 acc, 2 order, 3 hs, 4 out, 5 F, 6 D
  // locals: 7 j, 8 p, 9 q, 10 end (i32); 11 hv, 12 last (f64); 13 hvv, 14 sq0, 15 sq1, 16 a (v128)
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const tee = (i: number) => [0x22, i];
  const i32c = (v: number) => [0x41, ...sleb(v)];
  const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
  const v128load = (offset: number) => simd(0x00, 0, ...uleb(offset));
  const v128store = (offset: number) => simd(0x0b, 0, ...uleb(offset));
  const v128zero = simd(0x0c, ...new Array<number>(16).fill(0));
  const splat = simd(0x14);
  const lane = (l: number) => simd(0x21, l);
  const add2 = simd(0xf0);
  const mul2 = simd(0xf2);
  const I32_ADD = 0x6a;
  const I32_MUL = 0x6c;
  const I32_SHL = 0x74;
  const I32_LT_U = 0x49;
  const I32_GE_U = 0x4f;
  const F64_NE = 0x62;
  const F64_ADD = 0xa0;
  const F64_SQRT = 0x9f;
  const BLOCK = [0x02, 0x40];
  const LOOP = [0x03, 0x40];
  const IF = [0x04, 0x40];
  const END = 0x0b;
  const br = (d: number) => [0x0c, d];
  const brIf = (d: number) => [0x0d, d];
  const f64load = [0x2b, 3, 0];
  const f64store = [0x39, 3, 0];
  const i32load = [0x28, 2, 0];
  // Half of one unrolled step: a = acc[p+off] + hvv·w[q+off]; acc[p+off] = a; sq += a·a.
  const half = (off: number, sq: number) => [
    ...get(8), ...get(8), ...v128load(off), ...get(13), ...get(9), ...v128load(off), ...mul2, ...add2, ...tee(16),
    ...v128store(off),
    ...get(sq), ...get(16), ...get(16), ...mul2, ...add2, ...set(sq),
  ];
  const code = [
    // end = acc + D·8; zero acc
    ...get(1), ...get(6), ...i32c(3), I32_SHL, I32_ADD, ...set(10),
    ...get(1), ...set(8),
    ...BLOCK, ...LOOP,
    ...get(8), ...get(10), I32_GE_U, ...brIf(1),
    ...get(8), ...v128zero, ...v128store(0),
    ...get(8), ...i32c(16), I32_ADD, ...set(8),
    ...br(0), END, END,
    // for j in 0..F
    ...BLOCK, ...LOOP,
    ...get(7), ...get(5), I32_GE_U, ...brIf(1),
    ...get(3), ...get(7), ...i32c(3), I32_SHL, I32_ADD, ...f64load, ...tee(11),
    0x44, 0, 0, 0, 0, 0, 0, 0, 0, F64_NE,
    ...IF,
    // q = w + order[j]·D·8
    ...get(0), ...get(2), ...get(7), ...i32c(2), I32_SHL, I32_ADD, ...i32load, ...get(6), I32_MUL, ...i32c(3), I32_SHL, I32_ADD, ...set(9),
    ...get(11), ...splat, ...set(13),
    ...v128zero, ...tee(14), ...set(15),
    ...get(1), ...set(8),
    ...LOOP,
    ...half(0, 14),
    ...half(16, 15),
    ...get(8), ...i32c(32), I32_ADD, ...set(8),
    ...get(9), ...i32c(32), I32_ADD, ...set(9),
    ...get(8), ...get(10), I32_LT_U, ...brIf(0),
    END,
    ...get(14), ...get(15), ...add2, ...tee(14), ...lane(0), ...get(14), ...lane(1), F64_ADD, F64_SQRT, ...set(12),
    END,
    // out[j] = last; j++
    ...get(4), ...get(7), ...i32c(3), I32_SHL, I32_ADD, ...get(12), ...f64store,
    ...get(7), ...i32c(1), I32_ADD, ...set(7),
    ...br(0), END, END,
    END,
  ];
  const locals = vec([[...uleb(4), I32], [...uleb(2), F64], [...uleb(4), V128]]);
  const body = [...locals, ...code];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(new Array<number>(7).fill(0).map(() => [I32])), 0]])),
    ...section(3, vec([uleb(0)])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...str('mem'), 0x02, 0], [...str('tok'), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}
