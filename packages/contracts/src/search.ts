import type { Metadata } from './catalogue';

/** Most results one query may ask for (the index store's bound; servers may set a lower MAX_K). */
export const MAX_K = 100;

/** Most ids one query may exclude (`SearchOptions.exclude`): a bound on the extra depth it costs. */
export const MAX_EXCLUDE = 100;

/**
 * Equality per field; an array means any of the values; fields are ANDed. Values compare as strings,
 * so a filter of "2012" matches metadata 2012 (filters usually arrive as query-string text).
 */
export type Filter = Record<string, string | number | Array<string | number>>;

export interface SearchOptions {
  /** 1..MAX_K */
  k: number;
  filter?: Filter;
  /** Drop hits whose similarity (inner product of unit vectors: cosine) is below this. */
  minScore?: number;
  /** Drop a hit whose cosine similarity to a better kept hit is at least this (0 < collapse ≤ 1). */
  collapse?: number;
  /**
   * Ids never returned (a multi-example query's own examples), at most MAX_EXCLUDE; unknown ids are
   * ignored. Excluded in the search itself, so k hits still come back when k others exist.
   */
  exclude?: readonly string[];
}

/** A plain nearest neighbour: `score` is its inner product with the query (cosine for unit vectors). */
export interface SearchHit {
  id: string;
  score: number;
  metadata: Metadata;
}

/**
 * A result as the API answers it: `score` orders the results (the learned ranking score, or the
 * cosine similarity when the snapshot has no ranking model); `similarity` is always the plain cosine
 * similarity, the quantity `minScore` and `collapse` are measured in.
 */
export interface RankedHit extends SearchHit {
  similarity: number;
}

/** One query of a `searchMany` batch: by vector, or by the id of a stored item (excluded from its hits). */
export type SearchRequest =
  { vector: Float32Array; options: SearchOptions } | { id: string; options: SearchOptions };

/** A batch query's answer: its hits, or the error a single search would have thrown for it. */
export type SearchOutcome = { hits: SearchHit[] } | { error: Error };
