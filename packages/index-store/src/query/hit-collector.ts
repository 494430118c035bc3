import type { SearchHit, StoredItem } from '../types';
import type { ValidOptions } from './options';

/** Bound on the cosine comparisons collapse may spend on one query (a page of near-duplicates). */
const COLLAPSE_COMPARISON_BUDGET = 50_000;

/** What the collector reads of a snapshot. */
export interface CollectorSource {
  readonly vectors: Float32Array;
  readonly dimension: number;
  itemAt(position: number): StoredItem;
}

/** Inner product of `query` with the stored vector at `offset` (four partial sums, for speed). */
export function dotAt(query: Float32Array, vectors: Float32Array, offset: number, dimension: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < dimension; j += 4) {
    s0 += (query[j] as number) * (vectors[offset + j] as number);
    s1 += (query[j + 1] as number) * (vectors[offset + j + 1] as number);
    s2 += (query[j + 2] as number) * (vectors[offset + j + 2] as number);
    s3 += (query[j + 3] as number) * (vectors[offset + j + 3] as number);
  }
  for (; j < dimension; j++) s0 += (query[j] as number) * (vectors[offset + j] as number);
  return s0 + s1 + s2 + s3;
}

/**
 * Accepts candidates in descending score order until k are kept (or nothing better can come):
 * drops those under minScore, and collapses a candidate into a better kept hit it is a near-duplicate
 * of (cosine ≥ collapse).
 */
export class HitCollector {
  readonly hits: SearchHit[] = [];
  private readonly kept: Array<{ offset: number; norm: number }> = [];
  private comparisons = 0;

  constructor(
    private readonly snapshot: CollectorSource,
    private readonly options: ValidOptions,
  ) {}

  /** Returns true when the search can stop. */
  offer(position: number, score: number): boolean {
    const { minScore, collapse, k } = this.options;
    if (minScore !== undefined && score < minScore) return true;
    if (collapse !== undefined) {
      const { vectors, dimension } = this.snapshot;
      const offset = position * dimension;
      const candidate = vectors.subarray(offset, offset + dimension);
      const norm = Math.sqrt(dotAt(candidate, vectors, offset, dimension));
      for (const kept of this.kept) {
        if (++this.comparisons > COLLAPSE_COMPARISON_BUDGET) return true;
        const cosine =
          norm === 0 || kept.norm === 0
            ? 0
            : dotAt(candidate, vectors, kept.offset, dimension) / (norm * kept.norm);
        if (cosine >= collapse) return false;
      }
      this.kept.push({ offset, norm });
    }
    const item = this.snapshot.itemAt(position);
    this.hits.push({ id: item.id, score, metadata: item.metadata });
    return this.hits.length >= k;
  }
}
