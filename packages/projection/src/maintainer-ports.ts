/**
 * What ProjectionMaintainer needs from the index store, as structural types: @lookalike/index-store's
 * SnapshotWriter and Snapshot fit them (this package does not depend on it; index-store depends on this one).
 */
import type { Metadata, ModelIdentity } from '@lookalike/contracts';
import type { LinearProjection, ProjectionDescriptor } from './linear-projection';

export interface ProjectionSnapshot {
  readonly version: number;
  readonly count: number;
  /** The raw embedding model the items are embedded with. */
  readonly model: ModelIdentity;
  readonly projection: ProjectionDescriptor | null;
  ids(): Iterable<string>;
  get(id: string): { indexedAt: string } | undefined;
}

/** index-store's RawVectors. */
export interface ProjectionFitInput {
  version: number;
  builtAt: string;
  count: number;
  rows: number;
  model: ModelIdentity;
  projection: ProjectionDescriptor | null;
  items: ReadonlyArray<{ id: string; metadata: Metadata }>;
  vectors: Float32Array;
}

/** The projection-only change the maintainer publishes (index-store's SnapshotChange accepts it). */
export interface ProjectionChange {
  upserts: [];
  deletes: [];
  projection: LinearProjection | null;
  projectionReplaces: string | null;
}

export interface ProjectionStore<S extends ProjectionSnapshot, R> {
  latest(): Promise<S | null>;
  readRawVectors(options: { maxRows?: number }): Promise<ProjectionFitInput | null>;
  publish(change: ProjectionChange): Promise<R>;
}

export interface ProjectionLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** What the maintainer reports, for the indexer's metrics. */
export interface ProjectionEvents {
  /** A fit ended: published, superseded (another replica's projection came first) or failed. */
  fitEnded?(outcome: 'published' | 'superseded' | 'failed', fitMs: number): void;
  /** The dimension of the vectors served after a check (the projection's output, else the model's). */
  served?(dimension: number): void;
}
