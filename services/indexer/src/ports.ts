/**
 * What the indexer needs from the rest of lookalike, as small structural types. The real classes
 * (ImageSource, Embedder, SnapshotWriter and its snapshots) satisfy them without adapters — main.ts
 * wires them and the compiler checks the fit there — while processor tests can also run on fakes.
 */

// Data shapes come from the packages that own them; the interfaces below are the behaviour the indexer needs.
import type {
  ItemInput,
  Metadata,
  ModelIdentity,
  PublishResult,
  SnapshotChange,
  StoredItem,
} from '@lookalike/index-store';
import type { CatalogueItem, ImageRef, JobResult } from '@lookalike/queue';

export type {
  CatalogueItem,
  ImageRef,
  ItemInput,
  JobResult,
  Metadata,
  ModelIdentity,
  PublishResult,
  SnapshotChange,
  StoredItem,
};

export interface ImageLoader {
  /** Bytes of a known image format; throws errors with `code` and `permanent` (SOURCE_*). */
  load(ref: ImageRef, signal?: AbortSignal): Promise<Uint8Array>;
}

export interface ImageEmbedder {
  readonly model: ModelIdentity;
  /** Throws ImageError (IMAGE_*, permanent) or EmbedderBusyError / inference errors (transient). */
  embed(image: Uint8Array): Promise<{ vector: Float32Array; colour?: Float32Array }>;
}

/** The parts of a published snapshot the indexer reads. */
export interface SnapshotView {
  readonly version: number;
  readonly count: number;
  readonly model: ModelIdentity;
  get(id: string): StoredItem | undefined;
  vectorOf(id: string): Float32Array | undefined;
  /** Every item id, for reindex. */
  ids(): Iterable<string>;
}

/** The index-store SnapshotWriter, seen from the indexer. */
export interface SnapshotStore {
  publish(change: SnapshotChange): Promise<PublishResult>;
  latest(): Promise<SnapshotView | null>;
}
