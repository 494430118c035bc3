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
import type { Crop, EmbedOptions } from '@lookalike/embedder';
import type { EventIngestor, EventSink } from '@lookalike/events';
import type { Snapshot, StoredItem } from '@lookalike/index-store';
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
  Crop,
  EmbedOptions,
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
export type { EventIngestor, EventSink };
export type JobView = JobStatus;

/**
 * One immutable published snapshot of the index: the part of index-store's `Snapshot` the API uses
 * (documented there). The learned ranking's attachment is optional: without it, results are plain
 * visual similarity.
 */
export type SnapshotView = Pick<
  Snapshot,
  | 'version'
  | 'count'
  | 'model'
  | 'dimension'
  | 'projection'
  | 'projector'
  | 'builtAt'
  | 'get'
  | 'vectorOf'
  | 'ids'
  | 'search'
  | 'searchById'
  | 'searchMany'
  | 'metadataFields'
  | 'facets'
  | 'page'
> &
  Partial<Pick<Snapshot, 'attachment'>>;

/** The hot-reloading reader: `current()` is the newest valid snapshot, or null before the first. */
export interface SnapshotSource {
  current(): SnapshotView | null;
  readonly reloads: number;
  readonly rejections: number;
  /** The newest published snapshot refused since the last swap (the one served is older), or null. */
  readonly refusal: SnapshotRefusal | null;
}

/** A published snapshot the reader would not serve: its version (-1: CURRENT unreadable) and why. */
export interface SnapshotRefusal {
  version: number;
  reason: string;
  /** When it was (last) refused, ISO 8601. */
  at: string;
}

export interface QueryEmbedding {
  vector: Float32Array;
  model: ModelIdentity;
  /** Colour histogram from the same preprocessing (used by the learned ranking). */
  colour?: Float32Array;
}

export interface ImageEmbedder {
  readonly model: ModelIdentity;
  /**
   * Throws ImageError (IMAGE_*) for bad images, CropError (INVALID_CROP) for a crop it cannot apply,
   * EmbedderBusyError (EMBEDDER_BUSY) under overload.
   */
  embed(image: Uint8Array, options?: EmbedOptions): Promise<QueryEmbedding>;
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
  /**
   * Where POST /v1/events hands its batches (ThreadedEventIngestor in server.ts, or an
   * InProcessEventIngestor over a RedisEventLog); rejects when Redis cannot be reached.
   */
  events: EventIngestor;
}
