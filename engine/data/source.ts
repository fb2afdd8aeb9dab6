// A deterministic stream of training batches plus one fixed validation batch.
import type { Batch } from '../model/network';

export interface DataSource {
  /** The batch for optimiser step `step`, a pure function of (seed, step). Caller disposes. */
  trainBatch(step: number): Batch;
  /** The fixed validation batch; owned by the source (do not dispose). */
  readonly valBatch: Batch;
  /** Tokens (Transformer) or examples (MLP) consumed per training step. */
  readonly tokensPerStep: number;
  dispose(): void;
}
