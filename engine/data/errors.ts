// The one error the data sources throw for a bad file: it names the file, the byte offset and the
// host, because the same path can hold different bytes on different workers (a stale NFS copy, a
// local disk that was never synced). activities/trainSegment.ts turns it into a non-retryable failure.
import * as fs from 'node:fs';
import * as os from 'node:os';

export class DataFileError extends Error {
  override name = 'DataFileError';
  readonly host = os.hostname();

  /** `offset`: byte offset in `file` where the problem is (0 for a missing or unreadable file). */
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`${file} at byte offset ${offset} on host ${os.hostname()}: ${problem}`);
  }
}

/** `file`'s stat if it is a readable regular file, else DataFileError saying why not (missing, not a file, no permission). */
export function statReadable(file: string): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataFileError(file, 0, code === 'ENOENT' ? 'no such file (every worker must see it at this path)' : code === 'EACCES' ? 'not readable (permission denied)' : (err as Error).message);
  }
  if (!st.isFile()) throw new DataFileError(file, 0, 'not a regular file');
  return st;
}
