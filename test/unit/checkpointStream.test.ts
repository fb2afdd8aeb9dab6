// The streaming SPCK0001 codec against the whole-buffer one: same bytes, bit-exact round trips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointContents } from '../../engine/checkpoint';
import { decodeCheckpointStream, encodeCheckpointStream } from '../../engine/checkpointStream';
import { rng } from './seededRandom';

/** Floats with awkward bit patterns too (NaN payloads, -0, subnormals, infinities). */
function awkwardFloats(n: number, seed: number): Float32Array {
  const rand = rng(seed);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = Math.floor(rand() * 2 ** 32) >>> 0;
  const special = [0x80000000, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00001];
  special.forEach((b, i) => { if (i < n) bits[i] = b; });
  return out;
}

function sample(): CheckpointContents {
  return {
    counters: { step: 17, tokens: 123456, nonzeroParamSteps: 987.5, configKey: 'cfg-é' },
    groups: {
      params: [tf.tensor(awkwardFloats(3 * 5, 1), [3, 5]), null, tf.tensor(awkwardFloats(7, 2), [7])],
      'adam.m': [tf.tensor(awkwardFloats(3 * 5, 3), [3, 5]), tf.tensor(new Float32Array(0), [0, 4]), tf.tensor(awkwardFloats(1, 4), [])],
      masks: [],
    },
  };
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c.slice());
  return Buffer.concat(parts);
}

/** Re-chunks bytes into pieces of the given sizes (cycled), to cut across every boundary. */
async function* rechunk(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.byteLength; i++) {
    const n = sizes[i % sizes.length];
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

const bitsOf = (t: tf.Tensor | null) => {
  if (!t) return null;
  const f = t.dataSync() as Float32Array;
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('hex');
};

test('stream-encoded bytes equal encodeCheckpoint bytes', async () => {
  const contents = sample();
  const whole = encodeCheckpoint(contents);
  const streamed = await collect(encodeCheckpointStream(contents));
  assert.equal(streamed.byteLength, whole.byteLength);
  assert.ok(Buffer.from(streamed).equals(Buffer.from(whole)));
});

test('decodeCheckpointStream round-trips bit-exactly whatever the chunk sizes, and reads encodeCheckpoint output', async () => {
  const contents = sample();
  const whole = encodeCheckpoint(contents);
  for (const sizes of [[1], [3, 7], [13], [whole.byteLength]]) {
    const back = await decodeCheckpointStream(rechunk(whole, sizes));
    assert.deepEqual(back.counters, contents.counters);
    assert.deepEqual(Object.keys(back.groups), Object.keys(contents.groups));
    for (const [g, list] of Object.entries(contents.groups)) {
      assert.equal(back.groups[g].length, list.length);
      list.forEach((t, i) => {
        assert.deepEqual(back.groups[g][i]?.shape ?? null, t?.shape ?? null, `${g}[${i}] shape`);
        assert.equal(bitsOf(back.groups[g][i]), bitsOf(t), `${g}[${i}] bits`);
      });
    }
    // And the whole-buffer decoder agrees with the streaming one.
    const ref = decodeCheckpoint(whole);
    assert.equal(bitsOf(back.groups.params[2]), bitsOf(ref.groups.params[2]));
  }
});

test('decodeCheckpointStream refuses truncated, trailing and foreign bytes', async () => {
  const whole = encodeCheckpoint(sample());
  await assert.rejects(decodeCheckpointStream(rechunk(whole.subarray(0, whole.byteLength - 3), [64])), /stream ended inside tensor adam\.m\[2\] \(4 of 5 tensors complete\)/);
  await assert.rejects(decodeCheckpointStream(rechunk(whole.subarray(0, 20), [64])), /stream ended inside the header/);
  await assert.rejects(decodeCheckpointStream(rechunk(Buffer.concat([whole, Buffer.from([1, 2])]), [64])), /2 bytes after the last tensor/);
  await assert.rejects(decodeCheckpointStream(rechunk(Buffer.from('NOTACKPTxxxxxxxx'), [64])), /bad magic "NOTACKPT"/);
});
