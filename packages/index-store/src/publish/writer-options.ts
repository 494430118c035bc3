import type { Logger } from '@lookalike/config';
import { InvalidChangeError } from '../errors';
import { checkAnnSpec, type SearchParameters } from '../query/ann';
import type { ModelIdentity, PublishStep } from '../types';

export interface SnapshotWriterOptions {
  dataDir: string;
  /** The model whose vectors this writer publishes; a snapshot of another model is only replaced. */
  model: ModelIdentity;
  /** Published versions kept on disk, the current one included (default 3). */
  keepVersions?: number;
  /**
   * An old version is deleted only this long after it stopped being current, so a reader that read
   * the pointer just before a switch can finish loading it (default 30 s).
   */
  gcGraceMs?: number;
  logger?: Logger;
  /** A lock without a heartbeat for this long is taken over (default 10 s). */
  lockStaleMs?: number;
  /** How long publish() waits for another writer's lock (default 120 s). */
  lockTimeoutMs?: number;
  /** Publish attempts when this writer is fenced off by a newer one (default 3). */
  maxAttempts?: number;
  /**
   * Format 1 only (vectors per FAISS shard file); format 2 writes one file per segment and ignores it.
   * Still accepted so existing configurations keep working.
   */
  shardSize?: number;
  /**
   * Also publish an approximate index built with this faiss index_factory description (inner product),
   * e.g. "IVF1024,Flat" or "HNSW32"; readers search it instead of the flat shards. Unset (the default):
   * flat inner product only. Rebuilt (trained and filled) on every publish.
   */
  indexFactory?: string;
  /** Search-time parameters saved with the approximate index, e.g. { nprobe: 16 } or { efSearch: 64 }. */
  searchParameters?: SearchParameters;
  /** Test hook: called at every step of a publish (the crash tests kill the process here). */
  onStep?: (step: PublishStep) => void | Promise<void>;
}

/** Refuses options a writer can never work with (before it touches the data directory). */
export function checkWriterOptions(options: SnapshotWriterOptions): void {
  const { model } = options;
  if (
    !model ||
    typeof model.id !== 'string' ||
    typeof model.sha256 !== 'string' ||
    !Number.isInteger(model.dimension) ||
    model.dimension < 1
  )
    throw new InvalidChangeError('model must be { id, sha256, dimension ≥ 1 }');
  if (options.shardSize !== undefined && !(Number.isInteger(options.shardSize) && options.shardSize >= 1))
    throw new InvalidChangeError('shardSize must be an integer ≥ 1');
  if (
    options.keepVersions !== undefined &&
    !(Number.isInteger(options.keepVersions) && options.keepVersions >= 1)
  )
    throw new InvalidChangeError('keepVersions must be an integer ≥ 1');
  if (options.indexFactory)
    checkAnnSpec(
      { factory: options.indexFactory, parameters: options.searchParameters ?? {} },
      model.dimension,
    );
}
