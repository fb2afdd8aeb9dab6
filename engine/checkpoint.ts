// A self-describing binary checkpoint: magic, a JSON header (counters + tensor table), raw float32 data.
// Float32 bytes are copied as they are, so restoring is bit-exact.
import * as tf from '@tensorflow/tfjs-core';

const MAGIC = 'SPCK0001';

export interface CheckpointCounters {
  step: number;
  tokens: number;
  nonzeroParamSteps: number;
  /** Identifies the run configuration the checkpoint belongs to (refuse to resume another run). */
  configKey: string;
}

export interface CheckpointContents {
  counters: CheckpointCounters;
  /** Named tensor groups, e.g. params, adam.m, adam.v, masks (null entries = no tensor). */
  groups: Record<string, (tf.Tensor | null)[]>;
}

interface TensorEntry {
  group: string;
  index: number;
  shape: number[];
  offset: number;
}

export function encodeCheckpoint(contents: CheckpointContents): Uint8Array {
  const entries: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  const groupSizes: Record<string, number> = {};
  let offset = 0;
  for (const [group, tensors] of Object.entries(contents.groups)) {
    groupSizes[group] = tensors.length;
    tensors.forEach((t, index) => {
      if (!t) return;
      const data = t.dataSync() as Float32Array;
      entries.push({ group, index, shape: t.shape, offset });
      chunks.push(data);
      offset += data.length;
    });
  }
  const header = new TextEncoder().encode(JSON.stringify({ counters: contents.counters, groupSizes, entries }));
  // Pad the header so the float data starts 4-byte aligned (a Float32Array view can then alias it).
  const headerLen = Math.ceil((header.length + 12) / 4) * 4 - 12;
  const out = new Uint8Array(12 + headerLen + offset * 4);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, headerLen, true);
  out.set(header, 12);
  out.fill(0x20, 12 + header.length, 12 + headerLen);
  const floats = new Float32Array(out.buffer, 12 + headerLen, offset);
  let at = 0;
  for (const c of chunks) {
    floats.set(c, at);
    at += c.length;
  }
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array): CheckpointContents {
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== MAGIC) throw new Error(`checkpoint: bad magic ${JSON.stringify(magic)} (expected ${MAGIC})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLen))) as {
    counters: CheckpointCounters;
    groupSizes: Record<string, number>;
    entries: TensorEntry[];
  };
  // Copy out of the (possibly unaligned, possibly shared) input buffer.
  const dataStart = 12 + headerLen;
  const floatCount = (bytes.byteLength - dataStart) / 4;
  const floats = new Float32Array(floatCount);
  new Uint8Array(floats.buffer).set(bytes.subarray(dataStart));
  const groups: Record<string, (tf.Tensor | null)[]> = {};
  for (const [g, n] of Object.entries(header.groupSizes)) groups[g] = new Array<tf.Tensor | null>(n).fill(null);
  for (const e of header.entries) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    groups[e.group][e.index] = tf.tensor(floats.subarray(e.offset, e.offset + size), e.shape, 'float32');
  }
  return { counters: header.counters, groups };
}
