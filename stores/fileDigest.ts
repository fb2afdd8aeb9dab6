// SHA-256 of a file computed on a worker thread, so verifying a large checkpoint overlaps with
// decoding it on the main thread: a restore otherwise hashes (1.5-2 GB/s with SHA-NI), reads and
// builds tensors one after the other on one core (`sparsity bench checkpoint` measures the gain).
import { Worker } from 'node:worker_threads';

// Plain JavaScript evaluated by the worker: no module of ours to resolve from dist/ or from tsx.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const hash = createHash('sha256');
const buf = Buffer.allocUnsafe(4 << 20);
let bytes = 0;
const fd = openSync(workerData.path, 'r');
try {
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    hash.update(n === buf.length ? buf : buf.subarray(0, n));
    bytes += n;
  }
} finally {
  closeSync(fd);
}
parentPort.postMessage({ sha256: hash.digest('hex'), bytes });
`;

/**
 * Starts hashing the file at `path` on a worker thread. `result` resolves with its lowercase hex
 * SHA-256 and length in bytes, or rejects with the read error; `cancel()` stops the thread (the
 * caller gave up on the read), after which `result` never settles.
 */
export function sha256OfFileInWorker(path: string): { result: Promise<{ sha256: string; bytes: number }>; cancel(): void } {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path } });
  let cancelled = false;
  const result = new Promise<{ sha256: string; bytes: number }>((resolve, reject) => {
    worker.once('message', (m: { sha256: string; bytes: number }) => resolve(m));
    worker.once('error', (e) => {
      if (!cancelled) reject(e);
    });
    worker.once('exit', (code) => {
      if (!cancelled && code !== 0) reject(new Error(`hashing ${path}: worker thread exited with code ${code}`));
    });
  });
  result.catch(() => undefined);
  return {
    result,
    cancel() {
      cancelled = true;
      void worker.terminate();
    },
  };
}
