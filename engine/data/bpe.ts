// A byte-level BPE tokenizer: ids 0..255 are bytes, id 256+i is merge i. Text is first split into
// GPT-2-style chunks (a word with its leading space, digits, punctuation runs, whitespace), and
// merges never cross chunks. Training is incremental (only words containing the merged pair are
// touched, best pair from a lazy max-heap), which takes a few seconds on the Brown corpus.

const CHUNK = / ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+/g;

export function chunks(text: string): string[] {
  return text.match(CHUNK) ?? [];
}

const encoder = new TextEncoder();
const pairKey = (a: number, b: number): number => a * 65536 + b;

/** Max-heap of [count, key] with lazy deletion (stale entries are skipped when popped). */
class PairHeap {
  private readonly items: [number, number][] = [];
  private better(i: number, j: number): boolean {
    const a = this.items[i];
    const b = this.items[j];
    // Ties broken by the smaller pair key, so training is deterministic.
    return a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
  }
  private swap(i: number, j: number): void {
    const t = this.items[i];
    this.items[i] = this.items[j];
    this.items[j] = t;
  }
  push(count: number, key: number): void {
    this.items.push([count, key]);
    let i = this.items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (this.items.length > 0 && last) {
      this.items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.items.length && this.better(l, m)) m = l;
        if (r < this.items.length && this.better(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** Learns `vocabSize − 256` merges from a text. Returns them as [left, right] id pairs in order. */
export function trainBpe(text: string, vocabSize: number): [number, number][] {
  if (vocabSize < 256 || vocabSize > 65536) throw new Error(`vocabSize must be in [256, 65536], got ${vocabSize}`);
  const freq = new Map<string, number>();
  for (const c of chunks(text)) freq.set(c, (freq.get(c) ?? 0) + 1);
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, n] of [...freq.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    words.push(Array.from(encoder.encode(w)));
    counts.push(n);
  }
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number): void => {
    const w = words[wi];
    for (let i = 0; i + 1 < w.length; i++) {
      const k = pairKey(w[i], w[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * counts[wi]);
      if (sign > 0) {
        let s = pairWords.get(k);
        if (!s) pairWords.set(k, (s = new Set()));
        s.add(wi);
      }
    }
  };
  words.forEach((_, wi) => addPairs(wi, 1));
  const heap = new PairHeap();
  for (const [k, n] of pairCount) heap.push(n, k);

  const merges: [number, number][] = [];
  while (merges.length < vocabSize - 256) {
    const top = heap.pop();
    if (!top) break;
    const [n, k] = top;
    if (pairCount.get(k) !== n || n <= 0) continue; // stale heap entry
    const a = Math.floor(k / 65536);
    const b = k % 65536;
    const id = 256 + merges.length;
    merges.push([a, b]);
    const touched = new Map<number, number>();
    for (const wi of pairWords.get(k) ?? []) {
      const before = new Set<number>();
      const w = words[wi];
      for (let i = 0; i + 1 < w.length; i++) before.add(pairKey(w[i], w[i + 1]));
      addPairs(wi, -1);
      const merged: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          merged.push(id);
          i++;
        } else merged.push(w[i]);
      }
      words[wi] = merged;
      addPairs(wi, 1);
      for (const p of before) touched.set(p, 0);
      for (let i = 0; i + 1 < merged.length; i++) touched.set(pairKey(merged[i], merged[i + 1]), 0);
    }
    pairWords.delete(k);
    pairCount.delete(k);
    for (const p of touched.keys()) {
      const c = pairCount.get(p);
      if (c != null && c > 0) heap.push(c, p);
    }
  }
  return merges;
}

export class BpeTokenizer {
  private readonly rank = new Map<number, number>();
  private readonly cache = new Map<string, number[]>();
  /** Bytes of every id, for decoding. */
  private readonly bytes: Uint8Array[] = [];

  constructor(readonly merges: [number, number][]) {
    for (let i = 0; i < 256; i++) this.bytes.push(Uint8Array.of(i));
    merges.forEach(([a, b], i) => {
      this.rank.set(pairKey(a, b), i);
      const joined = new Uint8Array(this.bytes[a].length + this.bytes[b].length);
      joined.set(this.bytes[a]);
      joined.set(this.bytes[b], this.bytes[a].length);
      this.bytes.push(joined);
    });
  }

  get vocabSize(): number {
    return 256 + this.merges.length;
  }

  private encodeChunk(chunk: string): number[] {
    const hit = this.cache.get(chunk);
    if (hit) return hit;
    let ids = Array.from(encoder.encode(chunk));
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const r = this.rank.get(pairKey(ids[i], ids[i + 1]));
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const [a, b] = this.merges[bestRank];
      const next: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          next.push(256 + bestRank);
          i++;
        } else next.push(ids[i]);
      }
      ids = next;
    }
    this.cache.set(chunk, ids);
    return ids;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const c of chunks(text)) for (const id of this.encodeChunk(c)) out.push(id);
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const parts: number[] = [];
    for (let i = 0; i < ids.length; i++) for (const byte of this.bytes[ids[i]]) parts.push(byte);
    return new TextDecoder().decode(Uint8Array.from(parts));
  }
}
