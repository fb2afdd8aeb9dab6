// The training-slot counts a user gives (`--workers`, `--slots`): whole numbers this host can run.
import os from 'node:os';
import { UsageError } from '../domain/errors';
import { maxTrainingSlots } from '../workers/worker';

/** A commander parser for a slot count flag named `name`, from `min` up to maxTrainingSlots(). */
export const slotsArg =
  (name: string, min = 0) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be a whole number ≥ ${min} (got ${JSON.stringify(v)})`);
    const most = maxTrainingSlots();
    if (n > most) {
      throw new UsageError(
        `${name} ${n}: more training slots than this host can run (at most ${most}: 8 per core on ${os.cpus().length} cores, 256 MiB each of ` +
          `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB); each slot is a process, and one per core is the usual choice`,
      );
    }
    return n;
  };
