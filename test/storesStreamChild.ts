// Child process of stores.test.ts: streams a large deterministic blob into a store and back,
// and reports its own peak RSS, so the parent can check memory stays far below the blob size.
// argv: <store uri> <bytes> <seed>; AWS_* from the environment. Prints one JSON line.
import { createHash } from 'node:crypto';
import { openStore } from '../stores';

/** Deterministic pseudo-random bytes in 4 MiB chunks (xorshift32), never all in memory. */
export async function* patternChunks(total: number, seed: number): AsyncGenerator<Uint8Array> {
  const CHUNK = 4 << 20;
  let s = seed >>> 0 || 1;
  for (let at = 0; at < total; at += CHUNK) {
    const n = Math.min(CHUNK, total - at);
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      words[i] = s;
    }
    yield new Uint8Array(words.buffer, 0, n);
  }
}

async function main(): Promise<void> {
  const [uri, bytesArg, seedArg] = process.argv.slice(2);
  const total = Number(bytesArg);
  const store = openStore(uri);
  try {
    const baselineRssBytes = process.memoryUsage().rss;
    const t0 = Date.now();
    const blob = await store.put(patternChunks(total, Number(seedArg)), { runId: 'big-run', expectedBytes: total });
    const putSeconds = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    const hash = createHash('sha256');
    let read = 0;
    for await (const c of store.get(blob)) {
      hash.update(c);
      read += c.byteLength;
    }
    const getSeconds = (Date.now() - t1) / 1000;
    process.stdout.write(
      `${JSON.stringify({ blob, readSha256: hash.digest('hex'), readBytes: read, putSeconds, getSeconds, baselineRssBytes, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
    );
  } finally {
    await store.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
