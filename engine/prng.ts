// Counter-based pseudo-random numbers: every draw is a pure function of (seed, stream, counter),
// so a batch or an initialisation can be recomputed from (seed, step) alone — no hidden state,
// which is what makes a resumed run reproduce an uninterrupted one exactly.
//
// The mixer is a 32-bit integer hash (lowbias32-style xorshift-multiply rounds) applied to the
// three words in turn; it passes the avalanche tests that matter for data sampling and weight init.

/** Named streams keep independent uses of the same seed from ever sharing numbers. */
export const STREAM = {
  init: 1,
  batch: 2,
  valSet: 3,
  teacher: 4,
  synthetic: 5,
  /** High 32 bits of a window start in token files over 2^32 tokens. */
  batchHigh: 6,
} as const;

function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/** A 32-bit unsigned hash of (seed, stream, a, b). */
export function hash32(seed: number, stream: number, a: number, b = 0): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(stream + 1, 0x85ebca6b));
  h = mix32(h ^ (a >>> 0));
  h = mix32(h ^ Math.imul(b + 0x27d4eb2f, 0xc2b2ae35));
  return h;
}

/** A sequential view of one (seed, stream, key) counter sequence; cheap to create anywhere. */
export class CounterRng {
  private counter = 0;
  constructor(
    private readonly seed: number,
    private readonly stream: number,
    private readonly key: number,
  ) {}

  /** Uniform on [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return hash32(this.seed, this.stream, this.key, this.counter++) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal by Box–Muller (one value per call; the partner is discarded for simplicity). */
  normal(): number {
    const u1 = (hash32(this.seed, this.stream, this.key, this.counter++) + 1) / 4294967297;
    const u2 = hash32(this.seed, this.stream, this.key, this.counter++) / 4294967296;
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fill a Float32Array with N(0, std²). */
  normals(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }
}
