// Reading a sweep file from disk; validation is domain/sweepSchema.ts.
import { readFileSync } from 'node:fs';
import { UsageError } from '../domain/errors';
import type { SweepSpec } from '../domain/spec';
import { parseSweepText } from '../domain/sweepSchema';

/** Reads and validates `file`; a missing or unreadable file is a UsageError (exit 2) like any bad field. */
export function readSweepFile(file: string, overrides: { name?: string } = {}): SweepSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read sweep file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parseSweepText(text, file, overrides);
}
