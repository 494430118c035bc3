import { LookalikeError } from '@lookalike/config';

/** Why an image was refused. Stable: API responses and indexer job results carry these codes. */
export type ImageErrorCode =
  | 'IMAGE_EMPTY'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_UNSUPPORTED'
  | 'IMAGE_CORRUPT'
  | 'IMAGE_TOO_MANY_PIXELS'
  | 'IMAGE_TOO_SMALL'
  | 'IMAGE_DECODE_TIMEOUT';

/**
 * The input bytes cannot be embedded. Always permanent: the same bytes will be refused again, so
 * retrying is pointless (the caller must fix or replace the image).
 */
export class ImageError extends LookalikeError {
  declare readonly code: ImageErrorCode;

  constructor(
    code: ImageErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(code, message, { permanent: true, ...options });
  }
}

/** The bounded queue is full: back off and retry later (HTTP 503 / job retry). */
export class EmbedderBusyError extends LookalikeError {
  constructor(pending: number, maxQueue: number) {
    super('EMBEDDER_BUSY', `Embedder is busy: ${pending} images pending (limit ${maxQueue}); retry later`, {
      permanent: false,
      details: { pending, maxQueue },
    });
  }
}

/** embed() after close(), or work still queued when close() gave up waiting. */
export class EmbedderClosedError extends LookalikeError {
  constructor() {
    super('EMBEDDER_CLOSED', 'Embedder is closed', { permanent: false });
  }
}

/** The model cannot be prepared: unknown tensor, no pooled feature found, wrong dimension, bad file. */
export class EmbedderModelError extends LookalikeError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('EMBEDDER_MODEL', message, { permanent: true, ...options });
  }
}

/**
 * Inference failed for reasons outside the image (a worker died or timed out, the runtime threw):
 * transient, the worker is replaced and a retry may succeed. Also raised, as permanent, when the
 * model output for an image is not finite or all zero (no direction, so no vector).
 */
export class EmbedderInferenceError extends LookalikeError {
  constructor(
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; permanent?: boolean } = {},
  ) {
    super('EMBEDDER_INFERENCE', message, { permanent: false, ...options });
  }
}

/** A vector, snapshot or query made by one model was used with another. */
export class ModelMismatchError extends LookalikeError {
  constructor(
    expected: { id: string; sha256: string; dimension: number },
    actual: { id: string; sha256: string; dimension: number },
  ) {
    super(
      'MODEL_MISMATCH',
      `Embedding model mismatch: expected ${expected.id} (${expected.sha256.slice(0, 12)}…, ${expected.dimension}-d), ` +
        `got ${actual.id} (${actual.sha256.slice(0, 12)}…, ${actual.dimension}-d)`,
      { permanent: true, details: { expected, actual } },
    );
  }
}
