// The SPCK0001 checkpoint format (see checkpoint.ts), encoded and decoded tensor by tensor so a
// checkpoint of any size passes through a bounded buffer: the bytes produced are identical to
// encodeCheckpoint's, and decodeCheckpointStream reads what either writer produced.
import * as tf from '@tensorflow/tfjs-core';
import type { CheckpointContents, CheckpointCounters } from './checkpoint';

const MAGIC = 'SPCK0001';
/** The format these functions write and read; stored with each checkpoint pointer. */
export const CHECKPOINT_FORMAT_VERSION = 1;
/** Largest piece yielded by the encoder (bytes); views of the tensor's data, not copies. */
const PIECE_BYTES = 8 << 20;
/** A header larger than this is not a checkpoint we wrote (it holds counters and a tensor table). */
const MAX_HEADER_BYTES = 64 << 20;

interface TensorEntry {
  group: string;
  index: number;
  shape: number[];
  /** Position of the tensor's first float in the data section, in floats. */
  offset: number;
}

interface Header {
  counters: CheckpointCounters;
  groupSizes: Record<string, number>;
  entries: TensorEntry[];
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Encodes a checkpoint as a stream of byte chunks: the 12-byte preamble and JSON header first,
 * then each tensor's float32 data in order. Only one tensor's data is read off the backend at a
 * time. Yields views into buffers that stay valid until the consumer asks for the next chunk.
 * The concatenated output equals encodeCheckpoint(contents) byte for byte.
 */
export async function* encodeCheckpointStream(contents: CheckpointContents): AsyncGenerator<Uint8Array> {
  const entries: TensorEntry[] = [];
  const tensors: tf.Tensor[] = [];
  const groupSizes: Record<string, number> = {};
  let offset = 0;
  for (const [group, list] of Object.entries(contents.groups)) {
    groupSizes[group] = list.length;
    list.forEach((t, index) => {
      if (!t) return;
      entries.push({ group, index, shape: t.shape, offset });
      tensors.push(t);
      offset += t.size;
    });
  }
  const header = new TextEncoder().encode(JSON.stringify({ counters: contents.counters, groupSizes, entries }));
  // Same padding as encodeCheckpoint: the float data starts 4-byte aligned.
  const headerLen = Math.ceil((header.length + 12) / 4) * 4 - 12;
  const head = new Uint8Array(12 + headerLen);
  head.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(head.buffer).setUint32(8, headerLen, true);
  head.set(header, 12);
  head.fill(0x20, 12 + header.length);
  yield head;
  for (const t of tensors) {
    const raw = await t.data();
    // encodeCheckpoint stores every tensor as float32 (Float32Array.set converts other dtypes).
    const floats = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
    const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
    for (let at = 0; at < bytes.byteLength; at += PIECE_BYTES) yield bytes.subarray(at, Math.min(at + PIECE_BYTES, bytes.byteLength));
  }
}

/**
 * Decodes an SPCK0001 checkpoint from a stream of byte chunks of any sizes. Each tensor is built
 * as soon as its bytes have arrived, so memory stays at the decoded tensors plus one incoming
 * chunk. Errors: bad magic, an oversized or malformed header, a truncated stream, trailing bytes.
 * Every tensor already built is disposed when decoding fails.
 */
export async function decodeCheckpointStream(chunks: AsyncIterable<Uint8Array>): Promise<CheckpointContents> {
  const pre = new Uint8Array(12);
  let preFill = 0;
  let headerBytes: Uint8Array | null = null;
  let headerFill = 0;
  let header: Header | null = null;
  const groups: Record<string, (tf.Tensor | null)[]> = {};
  const built: tf.Tensor[] = [];
  let entryIndex = 0;
  let current: Float32Array | null = null;
  let currentBytes: Uint8Array | null = null;
  let currentFill = 0;

  const startEntry = () => {
    // Tensors of size 0 have no bytes: build them without waiting for data.
    while (header && entryIndex < header.entries.length) {
      const e = header.entries[entryIndex];
      const size = sizeOf(e.shape);
      current = new Float32Array(size);
      currentBytes = new Uint8Array(current.buffer);
      currentFill = 0;
      if (size > 0) return;
      finishEntry();
    }
    current = null;
    currentBytes = null;
  };
  const finishEntry = () => {
    const e = header!.entries[entryIndex];
    const t = tf.tensor(current!, e.shape, 'float32');
    built.push(t);
    groups[e.group][e.index] = t;
    entryIndex++;
  };
  const parseHeader = () => {
    const h = JSON.parse(new TextDecoder().decode(headerBytes!)) as Header;
    let expected = 0;
    for (const e of h.entries) {
      if (e.offset !== expected) throw new Error(`checkpoint: tensor ${e.group}[${e.index}] starts at float ${e.offset}, expected ${expected}`);
      if (!(e.group in h.groupSizes) || e.index >= h.groupSizes[e.group]) throw new Error(`checkpoint: tensor ${e.group}[${e.index}] is outside its group`);
      expected += sizeOf(e.shape);
    }
    for (const [g, n] of Object.entries(h.groupSizes)) groups[g] = new Array<tf.Tensor | null>(n).fill(null);
    header = h;
    startEntry();
  };

  try {
    for await (const chunk of chunks) {
      let at = 0;
      while (at < chunk.byteLength) {
        if (preFill < 12) {
          const n = Math.min(12 - preFill, chunk.byteLength - at);
          pre.set(chunk.subarray(at, at + n), preFill);
          preFill += n;
          at += n;
          if (preFill === 12) {
            const magic = new TextDecoder().decode(pre.subarray(0, 8));
            if (magic !== MAGIC) throw new Error(`checkpoint: bad magic ${JSON.stringify(magic)} (expected ${MAGIC})`);
            const headerLen = new DataView(pre.buffer).getUint32(8, true);
            if (headerLen > MAX_HEADER_BYTES) throw new Error(`checkpoint: header of ${headerLen} bytes is larger than ${MAX_HEADER_BYTES}`);
            headerBytes = new Uint8Array(headerLen);
            if (headerLen === 0) throw new Error('checkpoint: empty header');
          }
          continue;
        }
        if (!header) {
          const n = Math.min(headerBytes!.byteLength - headerFill, chunk.byteLength - at);
          headerBytes!.set(chunk.subarray(at, at + n), headerFill);
          headerFill += n;
          at += n;
          if (headerFill === headerBytes!.byteLength) parseHeader();
          continue;
        }
        if (!currentBytes) throw new Error(`checkpoint: ${chunk.byteLength - at} bytes after the last tensor`);
        const target: Uint8Array = currentBytes;
        const n = Math.min(target.byteLength - currentFill, chunk.byteLength - at);
        target.set(chunk.subarray(at, at + n), currentFill);
        currentFill += n;
        at += n;
        if (currentFill === target.byteLength) {
          finishEntry();
          startEntry();
        }
      }
    }
    if (!header) throw new Error(`checkpoint: stream ended inside the ${preFill < 12 ? 'preamble' : 'header'}`);
    const h: Header = header;
    if (entryIndex < h.entries.length) {
      const e = h.entries[entryIndex];
      throw new Error(`checkpoint: stream ended inside tensor ${e.group}[${e.index}] (${entryIndex} of ${h.entries.length} tensors complete)`);
    }
    return { counters: h.counters, groups };
  } catch (err) {
    for (const t of built) t.dispose();
    throw err;
  }
}
