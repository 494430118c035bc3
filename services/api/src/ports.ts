/**
 * What the API needs from the rest of lookalike, as small structural types. The real classes
 * (Embedder, SnapshotReader, CatalogueQueue, ImageSource) satisfy them without adapters — server.ts
 * wires them and the compiler checks the fit there — while route tests can pass in small fakes.
 */

export interface ModelIdentity {
  id: string;
  sha256: string;
  dimension: number;
}

/** Flat item metadata: string or number values only. */
export type Metadata = Record<string, string | number>;

/** Equality per field; an array means any of the values. Fields are ANDed. */
export type Filter = Record<string, string | number | Array<string | number>>;

export interface SearchOptions {
  k: number;
  filter?: Filter;
  minScore?: number;
  /** Drop a hit whose cosine similarity to a better hit is at least this (near-duplicate collapse). */
  collapse?: number;
}

export interface SearchHit {
  id: string;
  score: number;
  metadata: Metadata;
}

export interface StoredItem {
  id: string;
  metadata: Metadata;
  contentHash: string;
  indexedAt: string;
}

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
  /** Field → distinct values (capped), to check filter fields against. */
  metadataFields(): Record<string, string[]>;
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

export type ImageRef = { imageUrl: string } | { imagePath: string } | { imageBase64: string };

export interface ImageLoader {
  /** Bytes of a known image format, at most the configured size; throws ImageSourceError (SOURCE_*). */
  load(ref: ImageRef, signal?: AbortSignal): Promise<Uint8Array>;
}

export type CatalogueItem = { id: string; metadata: Metadata } & ImageRef;

export type CatalogueJob =
  { kind: 'upsert'; items: CatalogueItem[] } | { kind: 'delete'; ids: string[] } | { kind: 'reindex' };

export interface JobResult {
  indexed: string[];
  unchanged: string[];
  deleted: string[];
  notFound: string[];
  failed: Array<{ id: string; code: string; reason: string }>;
  version: number | null;
}

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';

export interface JobView {
  id: string;
  kind: string;
  state: JobState;
  progress: number;
  result: JobResult | null;
  failedReason: string | null;
  attemptsMade: number;
  createdAt: string;
  finishedAt: string | null;
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
