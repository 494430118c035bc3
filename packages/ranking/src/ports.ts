/**
 * What ranking needs from a snapshot, as structural types: @lookalike/index-store's Snapshot fits
 * them (this package does not depend on it).
 */

export type Metadata = Record<string, string | number>;
export type Filter = Record<string, string | number | Array<string | number>>;

export interface SearchOptions {
  k: number;
  filter?: Filter;
  minScore?: number;
  collapse?: number;
}

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

export interface RankingSnapshot {
  readonly version: number;
  readonly count: number;
  get(id: string): { metadata: Metadata; contentHash: string } | undefined;
  vectorOf(id: string): Float32Array | undefined;
  ids(): Iterable<string>;
  attachment(name: string): Uint8Array | undefined;
  search(vector: Float32Array, options: SearchOptions): SearchHit[];
  searchById(id: string, options: SearchOptions): SearchHit[];
}

/** An upsert as the publish hook sees it: the indexer's ItemInput plus the embedder's colour. */
export interface RankedItemInput {
  id: string;
  vector: Float32Array;
  metadata: Metadata;
  colour?: Float32Array;
}

/** A query image as the embedder returns it. */
export interface RankingQuery {
  vector: Float32Array;
  colour?: Float32Array;
}

/** What query-time ranking reads; without `attachment` (a fake, an old reader) it is plain similarity. */
export type QuerySnapshot = Pick<RankingSnapshot, 'search' | 'searchById' | 'get'> & {
  attachment?(name: string): Uint8Array | undefined;
};
