import { LookalikeError, isLookalikeError } from '@lookalike/config';

/**
 * Some items of a batch failed for reasons that may go away (timeouts, 5xx, a busy embedder). The
 * successes are already published; throwing this makes BullMQ retry the job with backoff, and the
 * retry skips the published items because their content hash is unchanged.
 */
export class TransientBatchError extends LookalikeError {
  constructor(failures: Array<{ id: string; code: string; reason: string }>) {
    const sample = failures
      .slice(0, 3)
      .map((f) => `${f.id}: ${f.code}`)
      .join(', ');
    super(
      'BATCH_TRANSIENT_FAILURES',
      `${failures.length} item(s) failed transiently and will be retried (${sample}${failures.length > 3 ? ', …' : ''})`,
      { permanent: false, details: { failures } },
    );
  }
}

/** The job payload does not match the contract; retrying cannot fix it. */
export class InvalidJobError extends LookalikeError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('JOB_INVALID', message, { permanent: true, details });
  }
}

/** A stored item cannot be re-embedded because its source ref is missing or unreadable. */
export class MissingSourceError extends LookalikeError {
  constructor(id: string, detail: string) {
    super('ITEM_NO_SOURCE', `Item ${id} has no usable image source to re-embed from (${detail})`, {
      permanent: true,
    });
  }
}

/** The item's metadata uses a key the indexer reserves for itself. */
export class ReservedMetadataError extends LookalikeError {
  constructor(key: string) {
    super('ITEM_RESERVED_METADATA', `Metadata key "${key}" is reserved by the indexer`, { permanent: true });
  }
}

export interface ClassifiedFailure {
  code: string;
  reason: string;
  permanent: boolean;
}

/**
 * Maps anything thrown while handling one item to a stable code and a retry decision. Errors the
 * project raises on purpose carry both; anything else is unexpected, so it is retried (a bug or a
 * resource blip should not silently drop the item) and reported as INTERNAL once attempts run out.
 */
export function classifyFailure(thrown: unknown): ClassifiedFailure {
  // An inline image that cannot be kept for lack of space fails with the volume's code, not INTERNAL.
  const err = asDataDirFull(thrown);
  if (isLookalikeError(err)) return { code: err.code, reason: err.message, permanent: err.permanent };
  if (err instanceof Error && err.name === 'AbortError') {
    return { code: 'ABORTED', reason: 'aborted', permanent: false };
  }
  const reason = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', reason: `unexpected error: ${reason}`, permanent: false };
}

/** errno codes of a data volume that has no room left (ENOSPC: no space; EDQUOT: quota exhausted). */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/**
 * The data volume ran out of space (or quota) while a snapshot was being built or committed. The
 * writer removed its partial build, CURRENT still names the last good version (readers keep serving
 * it), and the job is retried with backoff: freeing space is all an operator has to do. The code
 * leads the message because BullMQ keeps only the message as a job's failure reason.
 */
export class DataDirFullError extends LookalikeError {
  constructor(errno: string, cause: unknown) {
    super(
      'DATA_DIR_FULL',
      `DATA_DIR_FULL: no space left on DATA_DIR (${errno}); the snapshot was not published, the last ` +
        'good version stays current; the job is retried while attempts remain (free space, or retry it)',
      { permanent: false, cause, details: { errno } },
    );
  }
}

/** A DataDirFullError when `err` (or an error it wraps) is the data volume running out of space; else `err`. */
export function asDataDirFull(err: unknown): unknown {
  for (let cause = err, depth = 0; cause && depth < 5; depth++) {
    const code = typeof cause === 'object' ? (cause as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && NO_SPACE_CODES.has(code)) return new DataDirFullError(code, err);
    cause = typeof cause === 'object' ? (cause as { cause?: unknown }).cause : undefined;
  }
  return err;
}
