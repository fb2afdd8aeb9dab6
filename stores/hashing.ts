// SHA-256 and byte counting over streams, for put (digest of what was written) and get
// (verification of what was read).
import { createHash, randomBytes } from 'node:crypto';
import { ChecksumMismatchError, type StoredBlob } from './types';

/** Passes chunks through while hashing them; `result()` is valid once the input is exhausted. */
export function hashingTap(chunks: AsyncIterable<Uint8Array>): { stream: AsyncGenerator<Uint8Array>; result(): { sha256: string; bytes: number } } {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | null = null;
  async function* stream(): AsyncGenerator<Uint8Array> {
    for await (const c of chunks) {
      hash.update(c);
      bytes += c.byteLength;
      yield c;
    }
    digest = hash.digest('hex');
  }
  return {
    stream: stream(),
    result() {
      if (digest === null) throw new Error('hashingTap: the stream was not read to its end');
      return { sha256: digest, bytes };
    },
  };
}

/** Yields the chunks and, after the last one, fails if the digest or length differ from `expected`. */
export async function* verified(chunks: AsyncIterable<Uint8Array>, expected: StoredBlob): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const c of chunks) {
    hash.update(c);
    bytes += c.byteLength;
    yield c;
  }
  checkDigest(expected, { sha256: hash.digest('hex'), bytes });
}

/** Throws ChecksumMismatchError unless what was read (`actual`) is what was written (`expected`). */
export function checkDigest(expected: StoredBlob, actual: { sha256: string; bytes: number }): void {
  if (actual.sha256 !== expected.sha256.toLowerCase() || actual.bytes !== expected.bytes) {
    throw new ChecksumMismatchError(expected.uri, { sha256: expected.sha256, bytes: expected.bytes }, actual);
  }
}

/** A short random suffix that keeps every put's name unique (see the stores' naming notes). */
export const nonce = () => randomBytes(6).toString('hex');
