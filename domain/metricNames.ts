// Names of the activation-sparsity metrics, exactly as stored (`exact`, `fat-0.01`, `topk-0.1`,
// `cett-0.2`, `ppl-1%`). Pure: spec validation and workflow code may import it.

export type ParsedMetric =
  | { name: string; kind: 'exact' }
  /** Active when |h_i| > eps. */
  | { name: string; kind: 'fat'; eps: number }
  /** Per token, the ceil(ratio·dFF) neurons of largest contribution. */
  | { name: string; kind: 'topk'; ratio: number }
  /** Per layer, the threshold whose mean tail-truncation error is the target `cett`. */
  | { name: string; kind: 'cett'; cett: number }
  /** The shared CETT at which perplexity is (1 + percent/100) × dense. */
  | { name: string; kind: 'ppl'; percent: number };

const NUMBER = '(\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?|\\.\\d+(?:[eE][-+]?\\d+)?)';
const PATTERNS: [RegExp, (x: number, name: string) => ParsedMetric][] = [
  [new RegExp(`^fat-${NUMBER}$`), (eps, name) => ({ name, kind: 'fat', eps })],
  [new RegExp(`^topk-${NUMBER}$`), (ratio, name) => ({ name, kind: 'topk', ratio })],
  [new RegExp(`^cett-${NUMBER}$`), (cett, name) => ({ name, kind: 'cett', cett })],
  [new RegExp(`^ppl-${NUMBER}%$`), (percent, name) => ({ name, kind: 'ppl', percent })],
];

/** Parse and validate a metric name; throws an Error naming the bad metric and what is wrong. */
export function parseMetric(name: string): ParsedMetric {
  if (name === 'exact') return { name, kind: 'exact' };
  for (const [re, make] of PATTERNS) {
    const m = re.exec(name);
    if (m === null) continue;
    const x = Number(m[1]);
    const parsed = make(x, name);
    const bad = rangeError(parsed);
    if (bad !== null) throw new Error(`invalid sparsity metric "${name}": ${bad}`);
    return parsed;
  }
  throw new Error(
    `unknown sparsity metric "${name}": expected exact, fat-<eps>, topk-<ratio>, cett-<value> or ppl-<p>% ` +
      `(e.g. fat-0.01, topk-0.1, cett-0.2, ppl-1%)`,
  );
}

function rangeError(m: ParsedMetric): string | null {
  switch (m.kind) {
    case 'exact':
      return null;
    case 'fat':
      return Number.isFinite(m.eps) ? null : `eps must be a finite number ≥ 0, got ${m.eps}`;
    case 'topk':
      return m.ratio > 0 && m.ratio <= 1 ? null : `ratio must be in (0, 1], got ${m.ratio}`;
    case 'cett':
      return m.cett >= 0 && m.cett <= 1 ? null : `CETT must be in [0, 1], got ${m.cett}`;
    case 'ppl':
      return Number.isFinite(m.percent) && m.percent <= 1000
        ? null
        : `p must be a percentage in [0, 1000], got ${m.percent}`;
  }
}
