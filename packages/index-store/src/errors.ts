import { LookalikeError } from '@lookalike/config';

/** `searchById` (or another id lookup) named an id the snapshot does not hold. */
export class ItemNotFoundError extends LookalikeError {
  readonly id: string;
  constructor(id: string, version: number) {
    super('ITEM_NOT_FOUND', `No item with id ${JSON.stringify(id)} in snapshot version ${version}`, {
      details: { id, version },
    });
    this.id = id;
  }
}

/** A search request that can never be answered as given (bad k, vector, filter, minScore, collapse). */
export class InvalidQueryError extends LookalikeError {
  constructor(message: string) {
    super('INVALID_QUERY', message);
  }
}

/** A publish() change that can never be applied (bad id, vector, metadata, conflicting entries). */
export class InvalidChangeError extends LookalikeError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVALID_CHANGE', message, { details });
  }
}

/**
 * This writer lost its lock (it stalled past the stale timeout and another writer took over) and
 * could not publish on top of the newer snapshot within its attempts. Nothing it built was published;
 * trying again is safe.
 */
export class StaleWriterError extends LookalikeError {
  constructor(message: string) {
    super('STALE_WRITER', message, { permanent: false });
  }
}

/** Another writer held the lock for longer than the caller was prepared to wait. */
export class WriterLockTimeoutError extends LookalikeError {
  constructor(dataDir: string, waitedMs: number) {
    super('WRITER_LOCK_TIMEOUT', `Could not take the writer lock on ${dataDir} within ${waitedMs} ms`, {
      permanent: false,
      details: { dataDir, waitedMs },
    });
  }
}

/** A snapshot on disk failed verification (checksum, size, header, manifest, missing file). */
export class SnapshotCorruptError extends LookalikeError {
  readonly version: number;
  readonly reason: string;
  constructor(version: number, reason: string, cause?: unknown) {
    super('SNAPSHOT_CORRUPT', `Snapshot version ${version} rejected: ${reason}`, {
      cause,
      details: { version, reason },
    });
    this.version = version;
    this.reason = reason;
  }
}

/** The snapshot's model (or dimension) is not the one the caller runs; its vectors are not comparable. */
export class ModelMismatchError extends LookalikeError {
  constructor(message: string, details: Record<string, unknown>) {
    super('MODEL_MISMATCH', message, { details });
  }
}

/** No snapshot directory for the requested version. */
export class SnapshotNotFoundError extends LookalikeError {
  constructor(version: number) {
    super('SNAPSHOT_NOT_FOUND', `No snapshot version ${version}`, { details: { version } });
  }
}

/** The writer or reader was used after close(). */
export class StoreClosedError extends LookalikeError {
  constructor(what: string) {
    super('INDEX_STORE_CLOSED', `${what} is closed`);
  }
}

/** A projection for another model than the snapshot's (its raw vectors are not the projection's input). */
export class ProjectionModelMismatchError extends LookalikeError {
  constructor(message: string, details: Record<string, unknown>) {
    super('PROJECTION_MODEL_MISMATCH', message, { details });
  }
}

/**
 * The change replaces a projection that is no longer the current one (another fit published first):
 * publishing it would put an older fit over a newer one. Not retryable as is; fit again on the new base.
 */
export class ProjectionConflictError extends LookalikeError {
  constructor(expected: string | null, current: string | null, version: number) {
    super(
      'PROJECTION_CONFLICT',
      `The change replaces projection ${expected ?? 'none'}, but version ${version} serves ${current ?? 'none'}`,
      { details: { expected, current, version } },
    );
  }
}
