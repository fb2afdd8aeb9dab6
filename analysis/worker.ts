/** Worker-thread entry for analysis/parallel.ts: runs one task per message. */
import { parentPort } from 'worker_threads';
import { runTask } from './tasks';
export type { WorkerTask } from './tasks';

export interface WorkerReply { id: number; result?: unknown; error?: string }

if (parentPort) {
  const port = parentPort;
  port.on('message', (msg: { id: number; task: import('./tasks').WorkerTask }) => {
    try {
      port.postMessage({ id: msg.id, result: runTask(msg.task) } satisfies WorkerReply);
    } catch (e) {
      port.postMessage({ id: msg.id, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies WorkerReply);
    }
  });
}
