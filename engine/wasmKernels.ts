// Faster copies of four tfjs-wasm kernels that are pure memory movement.
//
// tfjs-backend-wasm 4.22 implements Slice in JS on top of `backend.readSync`, which copies the WHOLE
// input out of the wasm heap on every call; Unpack and SplitV call that Slice once per output, and Concat copies
// short rows with one subarray()+set() call each (~1 µs apiece). Cutting
// a [64,128,64] tensor into per-head matrices therefore copied it 64 times (158 ms measured, vs
// ~2 ms here). These replacements read the heap through views instead. Same results, bit for bit.
import * as tf from '@tensorflow/tfjs-core';

type Heap = Float32Array | Int32Array | Uint8Array;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Heap;
}

/** Copies the box [begin, begin+size) of x into a new tensor, in runs of contiguous elements. */
function sliceBox(backend: WasmBackendLike, x: tf.TensorInfo, begin: number[], size: number[], outShape: number[]): tf.TensorInfo {
  // Allocate first: malloc may grow the heap, which detaches every earlier view.
  const out = backend.makeOutput(outShape, x.dtype);
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const shape = x.shape;
  const rank = shape.length;
  const strides = new Array<number>(rank);
  let acc = 1;
  for (let i = rank - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  // The innermost axes taken whole merge into one run with the first partial axis above them.
  let k = rank - 1;
  while (k > 0 && size[k] === shape[k]) k--;
  const run = size[k] * strides[k];
  const outer = size.slice(0, k);
  const total = outer.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(k).fill(0);
  let o = 0;
  for (let n = 0; n < total; n++) {
    let off = begin[k] * strides[k];
    for (let j = 0; j < k; j++) off += (begin[j] + idx[j]) * strides[j];
    if (run < SHORT_RUN) {
      for (let j = 0; j < run; j++) dst[o + j] = src[off + j];
    } else {
      dst.set(src.subarray(off, off + run), o);
    }
    o += run;
    for (let j = k - 1; j >= 0; j--) {
      if (++idx[j] < outer[j]) break;
      idx[j] = 0;
    }
  }
  return out;
}

/** Runs shorter than this are copied element by element: subarray+set costs ~1 µs per call. */
const SHORT_RUN = 64;

let installed = false;

function firstInput(inputs: tf.NamedTensorInfoMap | tf.TensorInfo[]): tf.TensorInfo {
  return Array.isArray(inputs) ? inputs[0] : (inputs as Record<string, tf.TensorInfo>)[Object.keys(inputs)[0]];
}

/** Concatenation along `axis`, copying each input's contiguous inner block per outer index. */
function concatBoxes(backend: WasmBackendLike, inputs: tf.TensorInfo[], axis: number): tf.TensorInfo {
  const outShape = inputs[0].shape.slice();
  outShape[axis] = inputs.reduce((a, t) => a + t.shape[axis], 0);
  const out = backend.makeOutput(outShape, inputs[0].dtype);
  const dst = backend.typedArrayFromHeap(out);
  const outer = outShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = inputs.map((t) => t.shape.slice(axis).reduce((a, b) => a * b, 1));
  const srcs = inputs.map((t) => backend.typedArrayFromHeap(t));
  let o = 0;
  for (let b = 0; b < outer; b++) {
    for (let i = 0; i < srcs.length; i++) {
      const run = inner[i];
      const off = b * run;
      const src = srcs[i];
      if (run < SHORT_RUN) {
        for (let j = 0; j < run; j++) dst[o + j] = src[off + j];
      } else {
        dst.set(src.subarray(off, off + run), o);
      }
      o += run;
    }
  }
  return out;
}

/** Replaces Slice, Unpack, SplitV and Concat on the wasm backend (strings fall back to the originals). */
export function installFastWasmKernels(): void {
  if (installed) return;
  installed = true;
  const replace = (name: string, fast: tf.KernelFunc): void => {
    const original = tf.getKernel(name, 'wasm');
    if (!original) return;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: (args) => (firstInput(args.inputs).dtype === 'string' ? original.kernelFunc(args) : fast(args)),
    });
  };

  replace('Slice', ({ inputs, attrs, backend }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return sliceBox(backend as unknown as WasmBackendLike, x, b, s, s);
  });

  replace('Unpack', ({ inputs, attrs, backend }) => {
    const value = (inputs as { value: tf.TensorInfo }).value;
    let axis = (attrs as unknown as { axis: number }).axis;
    if (axis < 0) axis += value.shape.length;
    const outShape = value.shape.filter((_, i) => i !== axis);
    const size = value.shape.slice();
    size[axis] = 1;
    return Array.from({ length: value.shape[axis] }, (_, i) => {
      const begin = value.shape.map((_, j) => (j === axis ? i : 0));
      return sliceBox(backend as unknown as WasmBackendLike, value, begin, size, outShape);
    });
  });

  replace('Concat', ({ inputs, attrs, backend }) => {
    const list = (inputs as unknown as tf.TensorInfo[]).filter((t) => t.shape.reduce((a, b) => a * b, 1) > 0);
    const axis = tf.util.parseAxisParam((attrs as unknown as { axis: number }).axis, (inputs as unknown as tf.TensorInfo[])[0].shape)[0];
    return concatBoxes(backend as unknown as WasmBackendLike, list, axis);
  });

  replace('SplitV', ({ inputs, attrs, backend }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[ax] = s;
      const out = sliceBox(backend as unknown as WasmBackendLike, x, begin.slice(), size, size);
      begin[ax] += s;
      return out;
    });
  });
}
