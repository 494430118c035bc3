/**
 * What ranking needs from a snapshot, as structural types: @lookalike/index-store's Snapshot fits
 * them (this package does not depend on it).
 */

import type { Metadata, SearchHit, SearchOptions } from '@lookalike/contracts';

// The catalogue and search shapes are the contracts every layer shares (re-exported for ranking's users).
export type { Filter, Metadata, RankedHit, SearchHit, SearchOptions } from '@lookalike/contracts';

/**
 * The projection a snapshot serves its vectors in (index-store's LinearProjection fits it): raw
 * embeddings (upserts, query images) are mapped into the served space with `project` before anything
 * is compared with a served vector. `descriptor.id` names the space.
 */
export interface RankingProjector {
  readonly descriptor: { readonly id: string };
  /** count × inputDimension raw floats → count × outputDimension served floats. */
  project(raw: Float32Array): Float32Array;
}

/** Which served space a snapshot's vectors are in: its projection's id, or null (the raw embeddings). */
export type ServedSpace = string | null;

export interface RankingSnapshot {
  readonly version: number;
  readonly count: number;
  /** The served dimension (of vectorOf and search vectors). */
  readonly dimension: number;
  /** The projection served vectors are in, or null: served vectors are the raw embeddings. */
  readonly projection: { readonly id: string } | null;
  projector(): RankingProjector | null;
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
  /** The RAW embedding (the store projects it into the served space; so does ranking). */
  vector: Float32Array;
  metadata: Metadata;
  colour?: Float32Array;
}

/** A query image: the embedder's answer with its vector already in the snapshot's served space. */
export interface RankingQuery {
  vector: Float32Array;
  colour?: Float32Array;
  /**
   * The query's colour given directly as √p per bin (the Bhattacharyya term is an inner product of
   * √histograms), used instead of `colour` when present. Entries may be negative: a multi-example
   * query's mean(√p of positives) − β·mean(√p of negatives) scores a candidate by its colour
   * similarity to the positives minus β times that to the negatives.
   */
  colourRoot?: Float32Array;
}

/** What query-time ranking reads; without `attachment` (a fake, an old reader) it is plain similarity. */
export type QuerySnapshot = Pick<RankingSnapshot, 'search' | 'searchById' | 'get'> & {
  attachment?(name: string): Uint8Array | undefined;
  /**
   * The served space (see RankingSnapshot.projection); absent (a fake, an old reader) counts as the
   * raw space. A model fitted in another space than this is not applied: plain similarity instead.
   */
  readonly projection?: { readonly id: string } | null;
};
