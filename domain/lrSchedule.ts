// Learning-rate schedules (pure). `step` is the 0-based index of the optimiser step about to run.
import type { OptimConfig } from './spec';

export function learningRate(optim: OptimConfig, step: number, totalSteps: number): number {
  const warmupSteps = Math.round(optim.warmup * totalSteps);
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
  const decaySteps = Math.max(1, Math.round(optim.decay * totalSteps));
  const decayStart = totalSteps - decaySteps;
  if (step < decayStart) return optim.lr;
  const progress = Math.min(1, (step - decayStart + 1) / decaySteps);
  return optim.lr + (minLr - optim.lr) * progress;
}
