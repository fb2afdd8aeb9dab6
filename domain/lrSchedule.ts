// Learning-rate schedules (pure). `step` is the 0-based index of the optimiser step about to run.
import type { OptimConfig } from './spec';

/** Warmup length in steps: `warmupSteps` when given, else the fraction `warmup` of the run. */
export function warmupStepsOf(optim: OptimConfig, totalSteps: number): number {
  return optim.warmupSteps ?? Math.round(optim.warmup * totalSteps);
}

/**
 * WSD (warmup-stable-decay; Hu et al. 2024, MiniCPM §4): the first step of the final linear decay,
 * `T - max(1, round(decay*T))`. Before it the rate depends only on the warmup, not on T, which is
 * what lets runs of several lengths share their stable phase (domain/ladder.ts).
 */
export function wsdDecayStart(optim: OptimConfig, totalSteps: number): number {
  return totalSteps - Math.max(1, Math.round(optim.decay * totalSteps));
}

/** Learning rate of optimiser step `step` (0-based) of a `totalSteps`-step run. */
export function learningRate(optim: OptimConfig, step: number, totalSteps: number): number {
  const warmupSteps = warmupStepsOf(optim, totalSteps);
  const minLr = optim.lr * optim.minLrRatio;
  // Warm up linearly so the first step already moves (step 0 gets lr/warmupSteps, not 0).
  if (step < warmupSteps) return (optim.lr * (step + 1)) / warmupSteps;
  if (optim.schedule === 'constant') return optim.lr;
  if (optim.schedule === 'cosine') {
    const span = Math.max(1, totalSteps - warmupSteps);
    const progress = Math.min(1, (step - warmupSteps) / span);
    return minLr + 0.5 * (optim.lr - minLr) * (1 + Math.cos(Math.PI * progress));
  }
  // Warmup-stable-decay: flat at lr, then a linear decay to minLr over the last `decay` fraction.
  const decayStart = wsdDecayStart(optim, totalSteps);
  const decaySteps = totalSteps - decayStart;
  if (step < decayStart) return optim.lr;
  const progress = Math.min(1, (step - decayStart + 1) / decaySteps);
  return optim.lr + (minLr - optim.lr) * progress;
}
