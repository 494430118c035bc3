/**
 * What ranking needs from a snapshot, as structural types: @lookalike/index-store's Snapshot fits
 * them (this package does not depend on it).
 */

import type { Metadata, SearchHit, SearchOptions } from '@lookalike/contracts';

// The catalogue and search shapes are the contracts every layer shares (re-exported for ranking's users).
export type { Filter, Metadata, RankedHit, SearchHit, SearchOptions } from '@lookalike/contracts';

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

/**
 * An upsert as the publish hook sees it: the parts of index-store's ItemInput ranking reads — the
 * vector, the labels in the metadata and the embedder's colour histogram, an explicit feature of
 * the upsert (ranking keeps it in its item-features attachment; the index store does not store it).
 */
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
