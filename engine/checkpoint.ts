// A self-describing binary checkpoint: magic, a JSON header (counters + tensor table), raw float32 data.
// Float32 bytes are copied as they are, so restoring is bit-exact.
import * as tf from '@tensorflow/tfjs-core';

/** The format tag at the start of every checkpoint. */
export const CHECKPOINT_MAGIC = 'SPCK0001';
const MAGIC = CHECKPOINT_MAGIC;

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

/**
 * The layout of a checkpoint (format SPCK0001): the 12-byte preamble (magic, header length) and the
 * padded JSON header, the tensors in the order their floats follow, and the total float count. One
 * function for the whole-buffer and the streaming encoder (checkpointStream.ts), so both write the
 * same bytes.
 */
export function checkpointLayout(contents: CheckpointContents): { head: Uint8Array; tensors: tf.Tensor[]; floats: number } {
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
  // Pad the header so the float data starts 4-byte aligned (a Float32Array view can then alias it).
  const headerLen = Math.ceil((header.length + 12) / 4) * 4 - 12;
  const head = new Uint8Array(12 + headerLen);
  head.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(head.buffer).setUint32(8, headerLen, true);
  head.set(header, 12);
  head.fill(0x20, 12 + header.length);
  return { head, tensors, floats: offset };
}

export function encodeCheckpoint(contents: CheckpointContents): Uint8Array {
  const { head, tensors, floats: offset } = checkpointLayout(contents);
  const headerLen = head.length - 12;
  const chunks = tensors.map((t) => t.dataSync() as Float32Array);
  const out = new Uint8Array(head.length + offset * 4);
  out.set(head, 0);
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
