// Reading a sweep file from disk; validation is domain/sweepSchema.ts.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../domain/errors';
import type { SweepSpec } from '../domain/spec';
import { parseSweepText } from '../domain/sweepSchema';
import { resolveDataPaths } from './dataCheck';

/**
 * Reads and validates `file`; a missing or unreadable file is a UsageError (exit 2) like any bad
 * field. Relative data paths are resolved against the file's folder (client/dataCheck.ts).
 */
export function readSweepFile(file: string, overrides: { name?: string } = {}): SweepSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read sweep file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return resolveDataPaths(parseSweepText(text, file, overrides), path.dirname(path.resolve(file)));
}
