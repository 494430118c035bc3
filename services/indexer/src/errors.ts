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
export function classifyFailure(err: unknown): ClassifiedFailure {
  if (isLookalikeError(err)) return { code: err.code, reason: err.message, permanent: err.permanent };
  if (err instanceof Error && err.name === 'AbortError') {
    return { code: 'ABORTED', reason: 'aborted', permanent: false };
  }
  const reason = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', reason: `unexpected error: ${reason}`, permanent: false };
}
