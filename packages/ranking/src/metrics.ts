/**
 * Retrieval metrics. A query's result list is judged per criterion (e.g. "same articleType"): each
 * result is relevant or not. `relevantTotal` is how many relevant items the index holds for that
 * query (for AP's normaliser); results are best first.
 */

export interface JudgedQuery {
  /** Relevance of each returned result, best first. */
  relevant: boolean[];
  /** Relevant items in the searched index (AP@k divides by min(relevantTotal, k)). */
  relevantTotal: number;
  /** The query's class, for per-class precision. */
  label: string;
}

/** Share of the first k results that are relevant (a list shorter than k counts the gap as misses). */
export function precisionAt(relevant: readonly boolean[], k: number): number {
  let hits = 0;
  for (let i = 0; i < k && i < relevant.length; i++) if (relevant[i]) hits++;
  return hits / k;
}

/**
 * Average precision at k: Σ_{i≤k} P@i·rel_i / min(relevantTotal, k); 0 when nothing is relevant.
 */
export function averagePrecisionAt(relevant: readonly boolean[], k: number, relevantTotal: number): number {
  const denominator = Math.min(relevantTotal, k);
  if (denominator <= 0) return 0;
  let hits = 0;
  let sum = 0;
  for (let i = 0; i < k && i < relevant.length; i++) {
    if (relevant[i]) {
      hits++;
      sum += hits / (i + 1);
    }
  }
  return sum / denominator;
}

export interface MetricSummary {
  queries: number;
  p1: number;
  p5: number;
  p10: number;
  map10: number;
}

export interface ClassPrecision {
  label: string;
  queries: number;
  p5: number;
}

/** Mean P@1/5/10 and mAP@10 over the queries. */
export function summarize(queries: readonly JudgedQuery[]): MetricSummary {
  const n = queries.length;
  const mean = (f: (q: JudgedQuery) => number) => (n === 0 ? 0 : queries.reduce((s, q) => s + f(q), 0) / n);
  return {
    queries: n,
    p1: mean((q) => precisionAt(q.relevant, 1)),
    p5: mean((q) => precisionAt(q.relevant, 5)),
    p10: mean((q) => precisionAt(q.relevant, 10)),
    map10: mean((q) => averagePrecisionAt(q.relevant, 10, q.relevantTotal)),
  };
}

/** P@5 per query class, most frequent class first. */
export function perClassPrecision(queries: readonly JudgedQuery[]): ClassPrecision[] {
  const groups = new Map<string, JudgedQuery[]>();
  for (const q of queries) {
    let list = groups.get(q.label);
    if (!list) groups.set(q.label, (list = []));
    list.push(q);
  }
  return [...groups.entries()]
    .map(([label, list]) => ({ label, queries: list.length, p5: summarize(list).p5 }))
    .sort((a, b) => b.queries - a.queries || (a.label < b.label ? -1 : 1));
}
