import type { FieldFacet } from '@lookalike/filter';
import type { LinearProjection, ProjectionDescriptor } from '@lookalike/projection';
import type {
  Filter,
  ItemSource,
  Metadata,
  ModelIdentity,
  SearchHit,
  SearchOptions,
  SearchOutcome,
  SearchRequest,
} from '@lookalike/contracts';

export type { FieldFacet } from '@lookalike/filter';
export type { ProjectionDescriptor } from '@lookalike/projection';
export type {
  Filter,
  ItemSource,
  Metadata,
  ModelIdentity,
  SearchHit,
  SearchOptions,
  SearchOutcome,
  SearchRequest,
} from '@lookalike/contracts';

/** One item of a change: what it is (id, metadata), its features, and where its image came from. */
export interface ItemInput {
  id: string;
  /**
   * L2-normalised RAW embedding of `model.dimension` floats. With a projection the writer projects it
   * (with the projection of the version it publishes) and also keeps the raw vector for re-projection.
   */
  vector: Float32Array;
  metadata: Metadata;
  /** Hash of the source image bytes, so the indexer can skip re-embedding unchanged items. */
  contentHash: string;
  /** Where the image came from (kept with the item, so a reindex can re-embed it); omitted: unknown. */
  source?: ItemSource;
  /**
   * The embedder's colour histogram of the same pixels: a feature for the learned ranking, which
   * keeps it in its own attachment (the index store does not store it with the item).
   */
  colour?: Float32Array;
}

export interface StoredItem {
  id: string;
  /** The caller's metadata, exactly as given (nothing internal is kept here). */
  metadata: Metadata;
  contentHash: string;
  /** When this item's current vector was published (ISO 8601). */
  indexedAt: string;
  /** Where its image came from; absent for items published without one. Internal: not for clients. */
  source?: ItemSource;
}

/** One immutable published version of the index, fully loaded in memory. */
export interface Snapshot {
  readonly version: number;
  readonly count: number;
  /** The raw embedding model (what uploads are embedded with, and what a projection maps). */
  readonly model: ModelIdentity;
  /** The served dimension: of the vectors searched and of query vectors (projection.outputDimension, else model.dimension). */
  readonly dimension: number;
  /** The projection served vectors are in, or null: served vectors are the raw embeddings. */
  readonly projection: ProjectionDescriptor | null;
  /** The projection to apply to a raw query embedding before search(), or null (search raw). */
  projector(): LinearProjection | null;
  /** When the snapshot was published (ISO 8601). */
  readonly builtAt: string;
  /** The faiss factory description of the approximate index searched (INDEX_FACTORY), or null: exact flat. */
  readonly indexFactory: string | null;
  get(id: string): StoredItem | undefined;
  has(id: string): boolean;
  /** The served vector (projected when the snapshot has a projection); a copy. */
  vectorOf(id: string): Float32Array | undefined;
  /** Every item id, in index order. */
  ids(): Iterable<string>;
  search(vector: Float32Array, options: SearchOptions): SearchHit[];
  /** The item itself is excluded; throws ItemNotFoundError (ITEM_NOT_FOUND) for an unknown id. */
  searchById(id: string, options: SearchOptions): SearchHit[];
  /**
   * Several queries at once, answered as `search` / `searchById` answer each (scores equal to float
   * rounding: BLAS sums a batch in another order): the FAISS pass over the vectors — the cost of a flat
   * query, bound by memory bandwidth — is made once for all of them, so concurrent queries cost little
   * more than one. Outcomes are in request order.
   */
  searchMany(requests: readonly SearchRequest[]): SearchOutcome[];
  /** Every metadata field → its most frequent distinct values (at most 100 per field), for filter chips. */
  metadataFields(): Record<string, string[]>;
  /** Every metadata field with its item count, distinct values and most frequent values with counts. */
  facets(): FieldFacet[];
  /**
   * One page, in index order, of the items matching `filter` (all items without one), and how many
   * match in all. Throws InvalidQueryError for a bad filter, offset or limit.
   */
  page(filter: Filter | undefined, offset: number, limit: number): { total: number; items: StoredItem[] };
  /** Names of the extra files (learned ranking state, …) published with this snapshot. */
  attachmentNames(): string[];
  /** An extra file published with this snapshot, verified against the manifest like every other file. */
  attachment(name: string): Uint8Array | undefined;
}

export interface SnapshotChange {
  upserts: ItemInput[];
  deletes: string[];
  /**
   * Extra files to publish with the snapshot (learned ranking state and the like). They are carried
   * forward to later snapshots until replaced; `null` removes one. Names: [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
   */
  attachments?: Record<string, Uint8Array | null>;
  /**
   * Attachments computed from the snapshot this change is applied to (e.g. learned ranking state that
   * must follow the items exactly). Called under the writer lock with that base (null before the first
   * snapshot), again on every retry after losing a race, so its result always matches the items
   * published; merged over `attachments`. Keep it quick: the lock is held meanwhile.
   */
  deriveAttachments?: (
    base: Snapshot | null,
  ) => Record<string, Uint8Array | null> | Promise<Record<string, Uint8Array | null>>;
  /**
   * Publish exactly `upserts` (a full rebuild, e.g. a reindex with a new model); the previous items
   * not upserted are dropped and reported in `deleted` (explicit `deletes` add nothing but are
   * still reported in `unknownDeletes` when they name no previous item).
   */
  replaceAll?: boolean;
  /**
   * Sets (a LinearProjection of the writer's model) or clears (null) the projection. Either publishes a
   * full rewrite: every item's served vector is recomputed from its stored raw vector (no re-embedding).
   * Undefined: the base's projection is kept (and applied to this change's upserts).
   */
  projection?: LinearProjection | null;
  /**
   * Required with `projection`: the id of the projection that was current when this one was fitted
   * (null: there was none). The writer refuses the change with ProjectionConflictError
   * (PROJECTION_CONFLICT, permanent) when the current projection is another one, so two fits can never
   * publish out of order — the later-fitted one on top of a newer projection it never saw.
   */
  projectionReplaces?: string | null;
}

export interface PublishResult {
  /** Whether this call made a new version; false when the change altered nothing (`version` is then the current one). */
  published: boolean;
  version: number;
  count: number;
  upserted: string[];
  deleted: string[];
  unknownDeletes: string[];
  /** Bytes of new files this publish wrote (files hard-linked from the base cost nothing); 0 when not published. */
  bytesWritten: number;
}

/**
 * The points a publish passes through, in order ('projection-written' and 'raw-written' only with a
 * projection; 'index-header-written' and 'raw-written' only when the publish writes a segment). The writer's `onStep` hook sees each one; the crash
 * tests kill the writer process at every one of them.
 */
export const PUBLISH_STEPS = [
  'change-validated',
  'lock-acquired',
  'fence-acquired',
  'base-loaded',
  'build-dir-created',
  'base-linked',
  'projection-written',
  'index-header-written',
  'raw-written',
  'index-written',
  'items-partly-written',
  'items-written',
  'manifest-written',
  'manifest-synced',
  'build-dir-synced',
  'fence-checked',
  'snapshot-renamed',
  'snapshots-dir-synced',
  'pointer-temp-written',
  'pointer-temp-synced',
  'pointer-renamed',
  'data-dir-synced',
  'retired-recorded',
  'gc-done',
  'lock-released',
] as const;

export type PublishStep = (typeof PUBLISH_STEPS)[number];
