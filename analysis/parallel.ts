/**
 * A small worker_threads pool for the embarrassingly parallel parts (bootstrap replicates, the
 * Chinchilla start grid). The worker script is `worker.js` next to this file when running from
 * compiled JS (dist/), or `worker.ts` loaded through tsx's require hook when running from source.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { WorkerTask, WorkerReply } from './worker';

export function defaultWorkers(): number {
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, n);
}

function spawnWorker(): Worker {
  const js = path.join(__dirname, 'worker.js');
  if (__filename.endsWith('.js') && fs.existsSync(js)) return new Worker(js);
  const ts = path.join(__dirname, 'worker.ts');
  // Source tree (tsx): register tsx's CommonJS hook inside the worker, then load the TS worker.
  const hook = require.resolve('tsx/cjs');
  return new Worker(`require(${JSON.stringify(hook)}); require(${JSON.stringify(ts)});`, { eval: true });
}

/**
 * Runs tasks on up to `workers` threads and returns their results in task order. With one
 * worker (or one task) everything runs in this thread through `inline`, avoiding start-up cost.
 */
export async function runTasks<R>(tasks: readonly WorkerTask[], workers: number, inline: (t: WorkerTask) => R): Promise<R[]> {
  const count = Math.max(1, Math.min(workers, tasks.length));
  if (count <= 1) return tasks.map(inline);
  const results: R[] = new Array(tasks.length);
  let next = 0;
  const pool: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, () => new Promise<void>((resolve, reject) => {
        const w = spawnWorker();
        pool.push(w);
        const feed = () => {
          if (next >= tasks.length) { resolve(); return; }
          const id = next++;
          w.postMessage({ id, task: tasks[id] });
        };
        w.on('message', (msg: WorkerReply) => {
          if (msg.error !== undefined) { reject(new Error(`analysis worker failed: ${msg.error}`)); return; }
          results[msg.id] = msg.result as R;
          feed();
        });
        w.on('error', reject);
        w.on('exit', (code) => { if (code !== 0) reject(new Error(`analysis worker exited with code ${code}`)); });
        feed();
      })),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}
