// `sparsity extend`: what counts as the same sweep with grid values added.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../domain/errors';
import { checkExtension, firstDifference } from '../../domain/extend';
import { parseSweepText } from '../../domain/sweepSchema';

const file = (grid: string, extra = '') => `name: t
training: {steps: 100, evalEvery: 10}
${extra}grid:
${grid}`;
const grid = `  activation: [relu, silu]
  size: [{dModel: 64, nLayers: 2}]
  pruning: [{schedule: none}]
  seed: [0]
`;
const spec = (text: string) => parseSweepText(text, 'sweep.yaml');

function refusal(before: string, after: string): string {
  try {
    checkExtension(spec(before), spec(after));
  } catch (e) {
    assert.ok(e instanceof UsageError, `UsageError expected, got ${String(e)}`);
    return e.message;
  }
  assert.fail('accepted a file that is not an extension');
}

describe('checkExtension', () => {
  it('accepts added values on any axis, including a first value list on an optional axis that keeps the base value', () => {
    checkExtension(spec(file(grid)), spec(file(grid.replace('seed: [0]', 'seed: [0, 1]'))));
    checkExtension(spec(file(grid)), spec(file(grid.replace('[relu, silu]', '[gelu, relu, silu]'))));
    checkExtension(spec(file(grid)), spec(file(`${grid}  steps: [50, 100]\n`)));
  });

  it('names a changed field outside the grid, with both values', () => {
    assert.match(refusal(file(grid), file(grid).replace('steps: 100', 'steps: 200')), /^extend: base\.training\.steps differs .*\(100 stored, 200 in the file\)/);
    assert.match(refusal(file(grid), file(grid, 'maxParallel: 7\n')), /^extend: maxParallel differs/);
  });

  it('names the axis and value removed, including the base value an empty optional axis stood for', () => {
    assert.match(refusal(file(grid), file(grid.replace('[relu, silu]', '[relu, gelu]'))), /grid\.activation no longer holds "silu"/);
    assert.match(refusal(file(grid), file(`${grid}  steps: [50, 200]\n`)), /grid\.steps no longer holds 100/);
  });

  it('finds the first differing path', () => {
    assert.equal(firstDifference({ a: { b: 1, c: [1] } }, { a: { b: 1, c: [2] } }), 'a.c');
    assert.equal(firstDifference({ a: 1 }, { a: 1 }), null);
  });
});
