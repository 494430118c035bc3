/**
 * What the API needs from the rest of lookalike, as small structural types. The real classes
 * (Embedder, SnapshotReader, CatalogueQueue, ImageSource) satisfy them without adapters — server.ts
 * wires them and the compiler checks the fit there — while route tests can pass in small fakes.
 */

// Data shapes come from the packages that own them (shared ones from @lookalike/contracts); the
// interfaces below are the behaviour the API needs.
import type {
  Filter,
  Metadata,
  ModelIdentity,
  RankedHit,
  SearchHit,
  SearchOptions,
  SearchOutcome,
  SearchRequest,
} from '@lookalike/contracts';
import type { StoredItem } from '@lookalike/index-store';
import type { FieldFacet } from '@lookalike/filter';
import type {
  CatalogueItem,
  CatalogueJobInput,
  ImageRef,
  JobResult,
  JobState,
  JobStatus,
} from '@lookalike/queue';

export type {
  CatalogueItem,
  Filter,
  ImageRef,
  JobResult,
  JobState,
  Metadata,
  ModelIdentity,
  RankedHit,
  SearchHit,
  SearchOptions,
  SearchOutcome,
  SearchRequest,
  StoredItem,
};
export type CatalogueJob = CatalogueJobInput;
export type JobView = JobStatus;

/** One immutable published snapshot of the index. */
export interface SnapshotView {
  readonly version: number;
  readonly count: number;
  readonly model: ModelIdentity;
  readonly builtAt: string;
  get(id: string): StoredItem | undefined;
  /** Every item id, in index order (the demo page's catalogue browser pages through them). */
  ids(): Iterable<string>;
  search(vector: Float32Array, options: SearchOptions): SearchHit[];
  /** The item itself is excluded; throws an error with code ITEM_NOT_FOUND for an unknown id. */
  searchById(id: string, options: SearchOptions): SearchHit[];
  /** Several queries in one FAISS pass, each answered as search / searchById would (SearchBatcher). */
  searchMany(requests: readonly SearchRequest[]): SearchOutcome[];
  /** Field → distinct values (capped), to check filter fields against. */
  metadataFields(): Record<string, string[]>;
  /** Every metadata field with its value counts, in the order fields first occur (GET /v1/index/fields). */
  facets(): FieldFacet[];
  /** One page, in index order, of the items matching `filter` (all without one), and how many match. */
  page(filter: Filter | undefined, offset: number, limit: number): { total: number; items: StoredItem[] };
  /** Extra published state (the learned ranking); without it, results are plain visual similarity. */
  attachment?(name: string): Uint8Array | undefined;
}

/** The hot-reloading reader: `current()` is the newest valid snapshot, or null before the first. */
export interface SnapshotSource {
  current(): SnapshotView | null;
  readonly reloads: number;
  readonly rejections: number;
}

export interface QueryEmbedding {
  vector: Float32Array;
  model: ModelIdentity;
  /** Colour histogram from the same preprocessing (used by the learned ranking). */
  colour?: Float32Array;
}

export interface ImageEmbedder {
  readonly model: ModelIdentity;
  /** Throws ImageError (IMAGE_*) for bad images, EmbedderBusyError (EMBEDDER_BUSY) under overload. */
  embed(image: Uint8Array): Promise<QueryEmbedding>;
}

export interface ImageLoader {
  /** Bytes of a known image format, at most the configured size; throws ImageSourceError (SOURCE_*). */
  load(ref: ImageRef, signal?: AbortSignal): Promise<Uint8Array>;
}

export interface CatalogueJobs {
  /** Validates and enqueues; returns the job id. */
  enqueue(job: CatalogueJob): Promise<string>;
  getJob(jobId: string): Promise<JobView | null>;
  counts(): Promise<Record<JobState, number>>;
  /** Rejects (or resolves false) when Redis cannot be reached. */
  ping(): Promise<unknown>;
}

/** Everything buildApp needs from outside; the caller owns (and closes) them. */
export interface ApiDeps {
  embedder: ImageEmbedder;
  snapshots: SnapshotSource;
  queue: CatalogueJobs;
  images: ImageLoader;
}
