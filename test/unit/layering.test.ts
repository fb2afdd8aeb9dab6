// Imports point one way: a folder may import only from folders below it in LAYERS (or from
// itself). The order is the README's floor plan; a new top-level folder must be placed in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Outermost first. Folders on one line may not import each other. */
export const LAYERS: string[][] = [
  ['cli'],
  ['bench'],
  ['client', 'stack'],
  ['workers'],
  ['workflows'],
  ['activities'],
  ['stores'],
  ['db'],
  ['engine'],
  ['analysis'],
  ['domain'],
];
/** Not production code: may import anything, and nothing may import them. */
const OUTSIDE = new Set(['test', 'examples', 'scripts', 'bin', 'docs']);

const IMPORT = /(?:from|require\(|import\()\s*['"](\.[^'"]+)['"]/g;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function layerOf(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

export function upwardImports(): string[] {
  const bad: string[] = [];
  const top = readdirSync(ROOT).filter((d) => !d.startsWith('.') && d !== 'node_modules' && d !== 'dist' && statSync(path.join(ROOT, d)).isDirectory());
  for (const folder of top) {
    const files = tsFiles(path.join(ROOT, folder));
    if (files.length === 0 || OUTSIDE.has(folder)) continue;
    const from = layerOf(folder);
    if (from < 0) {
      bad.push(`${folder}/ holds TypeScript but has no place in LAYERS`);
      continue;
    }
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const target = path.relative(ROOT, path.resolve(path.dirname(file), m[1])).split(path.sep)[0];
        if (target === folder) continue;
        const to = layerOf(target);
        const rel = path.relative(ROOT, file);
        if (OUTSIDE.has(target)) bad.push(`${rel} imports ${m[1]} (${target}/ is not production code)`);
        else if (to <= from) bad.push(`${rel} imports ${m[1]} (${target}/ is not below ${folder}/)`);
      }
    }
  }
  return bad;
}

test('no import runs upward or sideways between layers', () => {
  assert.deepEqual(upwardImports(), []);
});
