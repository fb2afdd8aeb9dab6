// Parsers for the numeric flags a user types. Strict: JavaScript's Number() reads '' and ' ' as 0,
// '0x2' as 2 and '1e1' as 10, so `--workers ''` started 0 slots and `--workers 1e1` ten.
import os from 'node:os';
import { UsageError } from '../domain/errors';
import { maxTrainingSlots } from '../workers/worker';

const WHOLE = /^\d+$/;
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A commander parser for a whole-number flag `name` (decimal digits only), at least `min`. */
export const wholeNumberArg =
  (name: string, min = 0) =>
  (v: string): number => {
    const n = WHOLE.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${name} must be a whole number ≥ ${min} (got ${JSON.stringify(v)})`);
    return n;
  };

/** A commander parser for a positive decimal flag `name` (e.g. 0.25, 1e-3). */
export const positiveNumberArg =
  (name: string) =>
  (v: string): number => {
    const n = DECIMAL.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number (got ${JSON.stringify(v)})`);
    return n;
  };

/** A TCP port to listen on, unprivileged (1024-65535). */
export const portArg =
  (name: string) =>
  (v: string): number => {
    const n = WHOLE.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 1024 || n > 65535) throw new UsageError(`${name} must be a port number from 1024 to 65535 (got ${JSON.stringify(v)})`);
    return n;
  };

/** A commander parser for a training-slot count (`--workers`, `--slots`), from `min` up to maxTrainingSlots(). */
export const slotsArg =
  (name: string, min = 0) =>
  (v: string): number => {
    const n = wholeNumberArg(name, min)(v);
    const most = maxTrainingSlots();
    if (n > most) {
      throw new UsageError(
        `${name} ${n}: more training slots than this host can run (at most ${most}: 8 per core on ${os.cpus().length} cores, 256 MiB each of ` +
          `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB); each slot is a process, and one per core is the usual choice`,
      );
    }
    return n;
  };
