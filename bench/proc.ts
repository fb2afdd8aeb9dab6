// A child process under a time limit, for the GPU benchmarks: a CUDA JIT or a pip download can
// hang past any budget, and only a process (group) can be stopped from outside.
import { fork, spawn, type ChildProcess } from 'node:child_process';

export interface ProcResult<T> {
  ok: boolean;
  /** The last stdout line parsed as JSON, when it was JSON. */
  value: T | null;
  code: number | null;
  timedOut: boolean;
  seconds: number;
  /** One line for the report: why it failed (last stderr line, or the time limit). */
  error?: string;
}

/**
 * Runs `file` (a Node module: forked with this process's execArgv, so it works under tsx too) or
 * a command (`cmd` + `args`), in a process group of its own; kills the group at `timeoutMs`.
 * stderr is passed through `onStderr` line by line (default: dropped, last lines kept for `error`).
 */
export function runLimited<T>(
  spec: { module: string; args: string[] } | { cmd: string; args: string[] },
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number; onStderr?: (line: string) => void },
): Promise<ProcResult<T>> {
  const started = performance.now();
  let child: ChildProcess;
  const common = { env: opts.env ?? process.env, detached: true };
  if ('module' in spec) child = fork(spec.module, spec.args, { ...common, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  else child = spawn(spec.cmd, spec.args, { ...common, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errTail: string[] = [];
  let buf = '';
  child.stdout!.on('data', (c: Buffer) => (out = (out + c.toString('utf8')).slice(-1_000_000)));
  child.stderr!.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trimEnd();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      opts.onStderr?.(line);
      errTail = [...errTail.slice(-19), line];
    }
  });
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, Math.max(1, opts.timeoutMs));
    const finish = (code: number | null, spawnError?: string) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const last = out.trim().split('\n').pop() ?? '';
      let value: T | null = null;
      try {
        value = last.startsWith('{') ? (JSON.parse(last) as T) : null;
      } catch {
        value = null;
      }
      const ok = !timedOut && code === 0 && value !== null;
      const why = spawnError ?? (timedOut ? `stopped at the ${(opts.timeoutMs / 1000).toFixed(0)} s limit` : errTail[errTail.length - 1] ?? `exit ${code}`);
      resolve({ ok, value, code, timedOut, seconds, ...(ok ? {} : { error: why }) });
    };
    child.on('error', (e) => finish(null, e.message));
    child.on('close', (code) => finish(code));
  });
}
