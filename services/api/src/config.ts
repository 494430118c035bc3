import { ConfigError, commonEnvShape, envFields, parseEnv, z, type Env } from '@lookalike/config';
import { MAX_K } from '@lookalike/contracts';
import { parseSearchParameters } from '@lookalike/index-store';

const MiB = 1024 * 1024;

/** Hard ceiling of `k` in the published contract; MAX_K can only lower it. */
export const K_CEILING = MAX_K;

/**
 * A duration in `ms`'s syntax (`250ms`, `30s`, `1m`, `2h`, `1.5 minutes`, or a bare number of
 * milliseconds), whole milliseconds from 1 ms to 24 h.
 */
const duration = (fallback: string) => envFields.duration(fallback);

/** A comma-separated list, blanks dropped. */
const list = () =>
  z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    );

/**
 * The API_KEY the root .env.example ships with, so a compose deployment has writes protected by
 * default; refused at start, so nobody runs with a key everyone can read in the repository.
 */
export const API_KEY_PLACEHOLDER = 'REPLACE-ME-with-openssl-rand-hex-32';

const apiEnvSchema = z.object({
  ...commonEnvShape,
  PORT: envFields.port(8080),
  HOST: z.string().default('0.0.0.0'),

  /** When set, write routes need `Authorization: Bearer <API_KEY>`. */
  API_KEY: z
    .string()
    .min(16, 'use at least 16 characters (e.g. `openssl rand -hex 32`)')
    .refine((key) => key !== API_KEY_PLACEHOLDER, {
      message: 'still the placeholder from .env.example: set a real key (openssl rand -hex 32)',
    })
    .optional(),
  /**
   * The key a shop front end posts shopper events with (POST /v1/events) instead of API_KEY, which
   * stays on the server side: it allows nothing else. Unset: events need API_KEY (when set).
   */
  EVENTS_KEY: z.string().min(16, 'use at least 16 characters (e.g. `openssl rand -hex 32`)').optional(),
  /** Also require the key on read routes (queries, items, jobs, index). */
  API_KEY_READS: envFields.bool(false),
  /** `*` or comma-separated origins allowed by CORS; unset = no CORS headers. */
  CORS_ORIGINS: list().pipe(
    z.array(
      z.string().refine((origin) => origin === '*' || /^https?:\/\/[^/\s]+$/.test(origin), {
        message: 'expected * or origins such as https://shop.example.com (no path)',
      }),
    ),
  ),
  /** Requests per client IP per window; 0 turns rate limiting off. */
  RATE_LIMIT_MAX: envFields.int(300, 0, 1_000_000),
  RATE_LIMIT_WINDOW: duration('1m'),
  /** Trust X-Forwarded-For (behind a reverse proxy), so rate limits apply to the real client IP. */
  TRUST_PROXY: envFields.bool(false),

  /** Largest image accepted: upload, base64 or fetched URL. */
  MAX_UPLOAD_BYTES: envFields.int(10 * MiB, 1024, 512 * MiB),
  /** Largest JSON body (batch upserts with base64 images); default: room for one base64 upload + 1 MiB. */
  MAX_BODY_BYTES: envFields.int(0, 0, 1024 * MiB),
  /** Decoded width × height above which an image is refused (pixel bombs). */
  MAX_IMAGE_PIXELS: envFields.int(40_000_000, 1, 1_000_000_000),
  /** Largest `k` a client may ask for (≤ 100). */
  MAX_K: envFields.int(K_CEILING, 1, K_CEILING),
  /**
   * How long an image query's body (multipart upload or JSON) may take to arrive; past it: 408
   * UPLOAD_TIMEOUT and the connection is closed. Uploads still arriving hold no inference place.
   */
  UPLOAD_TIMEOUT_MS: envFields.int(30_000, 100, 600_000),
  /** Whole-request deadline (routing to response); past it: 503 REQUEST_TIMEOUT. */
  REQUEST_TIMEOUT_MS: envFields.int(30_000, 100, 600_000),
  /** Image embeddings computed at once (also the ONNX sessions of the embedder). */
  INFERENCE_CONCURRENCY: envFields.int(2, 1, 64),
  /** Image queries admitted to wait for a slot; beyond that: 503 with Retry-After. */
  INFERENCE_QUEUE: envFields.int(16, 0, 10_000),
  IMAGE_FETCH_TIMEOUT_MS: envFields.int(10_000, 100, 300_000),
  IMAGE_MAX_REDIRECTS: envFields.int(3, 0, 20),
  /** Turns the SSRF guard off for imageUrl (tests, trusted intranets). */
  ALLOW_PRIVATE_IMAGE_URLS: envFields.bool(false),
  /** Comma-separated host names, `*.suffix` wildcards or CIDRs that may be fetched even when private. */
  IMAGE_ALLOWED_HOSTS: list(),
  /** Directory `imagePath` refs are resolved against; unset = imagePath is refused. */
  CATALOGUE_ROOT: z.string().optional(),
  /** How often the snapshot reader looks for a newer published snapshot. */
  RELOAD_POLL_MS: envFields.int(1000, 50, 600_000),
  /**
   * After a snapshot swap, wait this long for requests on the replaced one to finish, then run two
   * major GCs this far apart so its memory is returned (see replaced-snapshot-collector.ts); 0 = leave
   * it to V8.
   */
  GC_AFTER_SWAP_MS: envFields.int(5000, 0, 600_000),
  /**
   * Overrides the search parameters an approximate index (the indexer's INDEX_FACTORY) was published
   * with, e.g. `nprobe=32`: recall against latency. No effect on the default exact flat index.
   */
  INDEX_SEARCH_PARAMS: envFields.parsed(parseSearchParameters),
  /** Events older than this (by their timestamp) are refused (TIMESTAMP_TOO_OLD). */
  EVENTS_MAX_AGE: duration('24h'),
  /** Events dated further ahead of the server's clock than this are refused (TIMESTAMP_IN_FUTURE). */
  EVENTS_MAX_FUTURE: duration('5m'),
  /** Approximate bound of the event stream (XADD MAXLEN ~): older events are trimmed past it. */
  EVENTS_STREAM_MAXLEN: envFields.int(1_000_000, 1000, 1_000_000_000),
  /** Largest body of POST /v1/events (a full batch of long ids is ~60 KiB). */
  EVENTS_MAX_BODY_BYTES: envFields.int(128 * 1024, 1024, 16 * MiB),
  /** POST /v1/events requests per client IP per window (its own budget, apart from RATE_LIMIT_MAX); 0 = off. */
  EVENTS_RATE_LIMIT_MAX: envFields.int(120, 0, 1_000_000),
  EVENTS_RATE_LIMIT_WINDOW: duration('1m'),
  /** How long Redis calls (enqueue, job status, readiness) may take before 503 QUEUE_UNAVAILABLE. */
  REDIS_TIMEOUT_MS: envFields.int(3000, 100, 60_000),
  /** On SIGTERM: stop accepting, finish in-flight requests for at most this long, then exit. */
  SHUTDOWN_GRACE_MS: envFields.int(10_000, 100, 600_000),
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;

/** Every variable the API reads (documented one by one in services/api/.env.example). */
export const API_ENV_KEYS: readonly string[] = Object.keys(apiEnvSchema.shape);

export interface ApiConfig extends Omit<ApiEnv, 'MAX_BODY_BYTES'> {
  /** Resolved: MAX_BODY_BYTES, or room for one base64-encoded upload plus 1 MiB of JSON. */
  MAX_BODY_BYTES: number;
}

/**
 * How long after its timestamp's slice an eventId is remembered for deduplication (RedisEventLog):
 * EVENTS_MAX_AGE + EVENTS_MAX_FUTURE. A replay (same id, same timestamp t) is accepted only while
 * its arrival r ≤ t + max age, so every replay the API would still accept finds its id; the
 * max-future margin covers a Redis clock behind the API's.
 */
export function eventDedupeTtlSeconds(
  config: Pick<ApiConfig, 'EVENTS_MAX_AGE' | 'EVENTS_MAX_FUTURE'>,
): number {
  return Math.ceil((config.EVENTS_MAX_AGE + config.EVENTS_MAX_FUTURE) / 1000);
}

/** Reads and validates every variable the API uses; throws ConfigError listing all bad keys at once. */
export function loadConfig(env: Env): ApiConfig {
  const parsed = parseEnv(apiEnvSchema, env);
  // The events key ends up in shop pages anyone can read: it must never also be the write key.
  if (parsed.EVENTS_KEY !== undefined && parsed.EVENTS_KEY === parsed.API_KEY) {
    throw new ConfigError([
      {
        key: 'EVENTS_KEY',
        message: 'must differ from API_KEY (it is given to browsers; API_KEY allows writes)',
      },
    ]);
  }
  return {
    ...parsed,
    MAX_BODY_BYTES: parsed.MAX_BODY_BYTES || Math.ceil((parsed.MAX_UPLOAD_BYTES * 4) / 3) + MiB,
  };
}
