// Gradual magnitude pruning (Zhu & Gupta 2017), as used for sparse pre-training by Jin et al. (ICLR 2025).
// The schedule arithmetic lives in ./schedule (pure, importable from workflow code); this module adds the
// masks, which need tfjs.
import * as tf from '@tensorflow/tfjs-core';

export {
  expectedAverageDensity,
  isPruneStep,
  maskSparsityAt,
  pruneWindow,
  sparsityAt,
} from '../../domain/pruningSchedule';
export type { PruneWindow } from '../../domain/pruningSchedule';

/** Magnitude-pruning masks (0/1, float32, one per weight, same shapes) with exactly
 *  `round(sparsity·n)` zeros, where n is the size of all weights together (`global`) or of each weight
 *  (`layer`). Masks are nested: a weight already pruned in `oldMasks` stays pruned (it ranks below every
 *  live weight), so `mask_new ≤ mask_old` and a pruned weight never comes back; if `sparsity` asks for
 *  fewer zeros than `oldMasks` already has, the old zeros are kept (more than the target). Live weights
 *  are ranked by |w|; ties go to the lower (weight index, flat index) first, so the result is
 *  deterministic. Inputs are not disposed; the caller owns the returned tensors. */
export function updateMasks(
  weights: tf.Tensor[],
  oldMasks: tf.Tensor[] | null,
  sparsity: number,
  scope: 'global' | 'layer',
): tf.Tensor[] {
  if (!(sparsity >= 0 && sparsity <= 1)) {
    throw new Error(`updateMasks: sparsity must be in [0, 1], got ${sparsity}`);
  }
  if (oldMasks !== null && oldMasks.length !== weights.length) {
    throw new Error(`updateMasks: ${weights.length} weights but ${oldMasks.length} old masks`);
  }
  // Scores: |w| for live weights, −1 for pruned ones (below every live weight).
  const scores = weights.map((w, li) => {
    const values = w.dataSync();
    const old = oldMasks?.[li];
    if (old !== undefined && !arraysEqual(old.shape, w.shape)) {
      throw new Error(`updateMasks: mask ${li} has shape [${old.shape}] but weight has [${w.shape}]`);
    }
    const mask = old?.dataSync();
    const s = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      s[i] = mask !== undefined && mask[i] === 0 ? -1 : Math.abs(values[i]);
    }
    return s;
  });

  const maskData = scores.map((s) => new Float32Array(s.length).fill(1));
  if (scope === 'layer') {
    scores.forEach((s, li) => pruneSmallest([s], [maskData[li]], Math.round(sparsity * s.length)));
  } else {
    const n = scores.reduce((acc, s) => acc + s.length, 0);
    pruneSmallest(scores, maskData, Math.round(sparsity * n));
  }
  return maskData.map((m, li) => tf.tensor(m, weights[li].shape, 'float32'));
}

/** Zero, in `masks`, the `k` smallest scores (pruned ones, scored −1, always included), ties broken by
 *  (array index, flat index). If more than `k` are already pruned, exactly those are zeroed. */
function pruneSmallest(scores: Float32Array[], masks: Float32Array[], k: number): void {
  let pruned = 0;
  for (const s of scores) for (let i = 0; i < s.length; i++) if (s[i] < 0) pruned++;
  const target = Math.max(k, pruned);
  if (target === 0) return;
  const n = scores.reduce((acc, s) => acc + s.length, 0);
  // The target-th smallest score; everything below it goes, then ties at it in index order.
  const all = new Float32Array(n);
  let o = 0;
  for (const s of scores) {
    all.set(s, o);
    o += s.length;
  }
  all.sort();
  const cut = all[target - 1];
  let below = 0;
  for (let i = 0; i < target; i++) if (all[i] < cut) below++;
  let tiesLeft = target - below;
  for (let a = 0; a < scores.length; a++) {
    const s = scores[a];
    const m = masks[a];
    for (let i = 0; i < s.length; i++) {
      if (s[i] < cut) m[i] = 0;
      else if (s[i] === cut && tiesLeft > 0) {
        m[i] = 0;
        tiesLeft--;
      }
    }
  }
}

function arraysEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
