import { LookalikeError } from '@lookalike/config';

/**
 * An error raised by the API itself. The HTTP status follows from the code (see STATUS_BY_CODE);
 * `retryAfterSeconds` becomes a Retry-After header; `fieldErrors` lists validation problems.
 */
export class ApiError extends LookalikeError {
  readonly retryAfterSeconds: number | undefined;
  readonly fieldErrors: FieldError[] | undefined;

  constructor(
    code: string,
    message: string,
    options: {
      permanent?: boolean;
      cause?: unknown;
      details?: Record<string, unknown>;
      retryAfterSeconds?: number;
      fieldErrors?: FieldError[];
    } = {},
  ) {
    super(code, message, options);
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.fieldErrors = options.fieldErrors;
  }
}

export interface FieldError {
  /** JSON pointer into the request part, prefixed with the part: `/body/items/0/id`, `/query/k`. */
  path: string;
  message: string;
}

/**
 * Every code the API answers with, and its status. Codes raised by the packages (IMAGE_*, SOURCE_*,
 * EMBEDDER_*, ITEM_NOT_FOUND, MODEL_MISMATCH) keep their names so clients and job results agree.
 */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  // 400: the request itself is wrong
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_FILTER: 400,
  UNKNOWN_FILTER_FIELD: 400,
  K_TOO_LARGE: 400,
  // a crop box outside the image or under 8×8 source pixels (raised by the embedder once it knows the size)
  INVALID_CROP: 400,
  INVALID_QUERY: 400,
  // POST /v1/recommend: mean(positive) − β·mean(negative) is (near) zero, no direction to search
  DEGENERATE_QUERY: 400,
  IMAGE_MISSING: 400,
  IMAGE_REF_INVALID: 400,
  DUPLICATE_ID: 400,
  EVENTS_REJECTED: 400,
  MULTIPART_INVALID: 400,
  JOB_INVALID: 400,
  SOURCE_BAD_REF: 400,
  SOURCE_BAD_URL: 400,
  SOURCE_BAD_BASE64: 400,
  SOURCE_BAD_PATH: 400,
  SOURCE_BLOCKED_ADDRESS: 400,
  SOURCE_PATH_OUTSIDE_ROOT: 400,
  SOURCE_NO_CATALOGUE_ROOT: 400,
  BAD_REQUEST: 400,
  BAD_URL: 400,
  // 401
  UNAUTHORIZED: 401,
  // 404
  ITEM_NOT_FOUND: 404,
  // POST /v1/recommend: example ids not in the index (each listed in `errors`)
  EXAMPLE_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  THUMBNAIL_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  // 405: the path exists, the method does not (the Allow header lists those it has)
  METHOD_NOT_ALLOWED: 405,
  // 408: the client did not send the whole request in time (socket-level timeout)
  CLIENT_TIMEOUT: 408,
  // 408: an image query's body did not arrive within UPLOAD_TIMEOUT_MS (the connection is closed)
  UPLOAD_TIMEOUT: 408,
  // 413: too big (bytes or pixels)
  BODY_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 413,
  IMAGE_TOO_MANY_PIXELS: 413,
  SOURCE_TOO_LARGE: 413,
  MULTIPART_LIMIT: 413,
  // 414: a path segment (an id) longer than the router takes
  ID_TOO_LONG: 414,
  // 415: not a media type we take
  UNSUPPORTED_MEDIA_TYPE: 415,
  IMAGE_UNSUPPORTED: 415,
  SOURCE_NOT_IMAGE: 415,
  SOURCE_BAD_CONTENT_TYPE: 415,
  // 431: request line + headers larger than Node's limit (a very long query string lands here too)
  HEADERS_TOO_LARGE: 431,
  // 422: well-formed request, but the image cannot be used
  IMAGE_EMPTY: 422,
  IMAGE_CORRUPT: 422,
  IMAGE_TOO_SMALL: 422,
  IMAGE_DECODE_TIMEOUT: 422,
  SOURCE_NOT_FOUND: 422,
  SOURCE_HTTP_ERROR: 422,
  SOURCE_TOO_MANY_REDIRECTS: 422,
  // 429
  RATE_LIMITED: 429,
  // 502/504: the remote image host failed (transient)
  SOURCE_NETWORK_ERROR: 502,
  SOURCE_TIMEOUT: 504,
  // 503: try again later
  NO_SNAPSHOT: 503,
  NOT_READY: 503,
  QUEUE_UNAVAILABLE: 503,
  INFERENCE_BUSY: 503,
  EMBEDDER_BUSY: 503,
  EMBEDDER_CLOSED: 503,
  EMBEDDER_INFERENCE: 503,
  MODEL_MISMATCH: 503,
  REQUEST_TIMEOUT: 503,
  // 500: our fault, details only in the log
  INTERNAL: 500,
};

/** Codes answered with Retry-After when the error does not say otherwise. */
export const DEFAULT_RETRY_AFTER_SECONDS: Readonly<Record<string, number>> = {
  NO_SNAPSHOT: 5,
  NOT_READY: 5,
  QUEUE_UNAVAILABLE: 5,
  INFERENCE_BUSY: 1,
  EMBEDDER_BUSY: 1,
  EMBEDDER_CLOSED: 5,
  EMBEDDER_INFERENCE: 1,
  MODEL_MISMATCH: 30,
  REQUEST_TIMEOUT: 1,
};

export const TITLE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export const noSnapshot = () =>
  new ApiError('NO_SNAPSHOT', 'No index snapshot has been published yet; add items first', {
    permanent: false,
  });

export const itemNotFound = (id: string) =>
  new ApiError('ITEM_NOT_FOUND', `No item with id "${id}" in the index`, { details: { id } });

export const jobNotFound = (jobId: string) =>
  new ApiError('JOB_NOT_FOUND', `No job with id "${jobId}"`, { details: { jobId } });

export const queueUnavailable = (cause?: unknown) =>
  new ApiError('QUEUE_UNAVAILABLE', 'The job queue (Redis) is unavailable; retry later', {
    permanent: false,
    cause,
  });
