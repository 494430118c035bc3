import os from 'node:os';
import { commonEnvShape, envFields, parseEnv, z, type Env } from '@lookalike/config';
import { parseSearchParameters } from '@lookalike/index-store';
import {
  DEFAULT_PROJECTION_MIN_ITEMS,
  DEFAULT_PROJECTION_REFIT_FRACTION,
  parseIndexProjection,
} from '@lookalike/projection';
import { DEFAULT_RANKING_CONFIG } from '@lookalike/ranking';

const optionalInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max).optional();

const indexerEnvSchema = z.object({
  ...commonEnvShape,
  /** Directory `imagePath` refs are resolved against; unset means path refs are refused per item. */
  CATALOGUE_ROOT: z.string().optional(),
  /**
   * Jobs (batches) one replica works on at once. 2 lets the next batch load and embed while the
   * previous one waits for its snapshot to be published.
   */
  WORKER_CONCURRENCY: envFields.int(2, 1, 64),
  /** Items of one job in flight at once (fetch + decode + embed); default: 2 × embedder sessions. */
  ITEM_CONCURRENCY: optionalInt(1, 256),
  /** ONNX sessions of this replica's embedder; default: available cores. Use 1 when running one replica per core. */
  EMBEDDER_SESSIONS: optionalInt(1, 64),
  /** At most one snapshot publish per this many ms (changes in between are coalesced). */
  PUBLISH_DEBOUNCE_MS: envFields.int(1000, 0, 60_000),
  /** Publish without waiting for the debounce once this many changes are pending. */
  PUBLISH_MAX_CHANGES: envFields.int(5000, 1, 1_000_000),
  IMAGE_FETCH_TIMEOUT_MS: envFields.int(10_000, 100, 300_000),
  IMAGE_MAX_BYTES: envFields.int(20 * 1024 * 1024, 1024, 512 * 1024 * 1024),
  IMAGE_MAX_REDIRECTS: envFields.int(3, 0, 20),
  /** Turns the SSRF guard off (tests, trusted intranets). */
  ALLOW_PRIVATE_IMAGE_URLS: envFields.bool(false),
  /** Comma-separated host names or CIDRs that may be fetched even when private. */
  IMAGE_ALLOWED_HOSTS: z.string().optional(),
  KEEP_VERSIONS: envFields.int(3, 1, 1000),
  /**
   * Also publish an approximate index built from this faiss index_factory description (inner product),
   * e.g. `IVF1024,Flat` or `HNSW32`; the API searches it instead of the flat index. Unset: exact flat search.
   */
  INDEX_FACTORY: z
    .string()
    .regex(/^[A-Za-z0-9_,.=+-]{1,128}$/, 'expected a faiss index_factory description such as IVF1024,Flat')
    .optional(),
  /** Search parameters published with INDEX_FACTORY's index, e.g. `nprobe=16` or `efSearch=64`. */
  INDEX_SEARCH_PARAMS: envFields.parsed(parseSearchParameters),
  /** BullMQ job lock: a replica that stops renewing it (SIGKILL, hang) loses the job after this long. */
  JOB_LOCK_MS: envFields.int(30_000, 1000, 600_000),
  /** How often replicas look for jobs whose lock expired and hand them back to the queue. */
  STALLED_INTERVAL_MS: envFields.int(30_000, 1000, 600_000),
  /** How often a job may be recovered from a stalled replica before it is failed. */
  MAX_STALLED_COUNT: envFields.int(3, 0, 100),
  /** How long SIGTERM waits for in-flight items before the process exits regardless. */
  SHUTDOWN_GRACE_MS: envFields.int(20_000, 100, 600_000),
  /** Prometheus metrics on http://0.0.0.0:<port>/metrics; unset = no metrics server. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().default('0.0.0.0'),
  /** On start, queue a reindex when the published snapshot was built with another model. */
  AUTO_REINDEX: envFields.bool(true),
  /** Name stored on processed jobs and logged on every line (default: hostname:pid). */
  WORKER_NAME: z.string().optional(),
  /** Learned ranking: fit it from the catalogue's labels at publish time and publish it with the snapshot. */
  RANKING: envFields.bool(true),
  /** Comma-separated metadata fields whose labels the ranking learns, most important first. */
  RANKING_LABEL_FIELDS: z.string().default(DEFAULT_RANKING_CONFIG.labelFields.join(',')),
  /** Metadata field holding the item's colour name ("none": no colour label). */
  RANKING_COLOUR_FIELD: z.string().default('baseColour'),
  /** Fewer labelled items than this: no model, plain visual similarity. */
  RANKING_MIN_LABELLED: envFields.int(50, 2, 10_000_000),
  /** Refit once this share of the labelled items changed since the last fit. */
  RANKING_REFIT_FRACTION: z.coerce.number().min(0).max(1).default(0.1),
  /**
   * The learned projection the API serves compact vectors in: `auto` (the default spec), `none` (raw
   * embeddings; a served projection is cleared) or a spec such as `pca-whiten:256` (packages/projection).
   */
  INDEX_PROJECTION: envFields.parsed((value) => parseIndexProjection(value ?? 'auto')),
  /** Fewer live items than this: no fit, raw embeddings are served. */
  PROJECTION_MIN_ITEMS: envFields.int(DEFAULT_PROJECTION_MIN_ITEMS, 2, 100_000_000),
  /** Refit once the count moved, or the items indexed since the fit reached, this share. */
  PROJECTION_REFIT_FRACTION: z.coerce.number().gt(0).max(1).default(DEFAULT_PROJECTION_REFIT_FRACTION),
  /** Learning from shoppers: aggregate the event stream and publish the feedback with the snapshot. */
  FEEDBACK: envFields.bool(true),
  /** Time between feedback refreshes (each reads the whole event stream). */
  FEEDBACK_INTERVAL: envFields.duration('5m'),
  /** Visual candidates per by-id query that feedback may re-order (fitted and served alike). */
  FEEDBACK_CANDIDATES: envFields.int(50, 10, 500),
  /** Events older than this are trimmed from the stream (XTRIM MINID) and no longer learned from. */
  EVENTS_RETENTION: envFields.duration('90d', 3650 * 86_400_000),
});

/** Every environment variable the indexer reads (deployment files are checked against this list). */
export const INDEXER_ENV_KEYS: readonly string[] = Object.keys(indexerEnvSchema.shape);

export type IndexerConfig = z.infer<typeof indexerEnvSchema> & {
  rankingLabelFields: string[];
  rankingColourField: string | null;
  itemConcurrency: number;
  workerName: string;
  imageAllowedHosts: string[];
};

/** Reads and validates every variable the indexer uses; throws ConfigError listing all bad keys. */
export function loadConfig(env: Env): IndexerConfig {
  const parsed = parseEnv(indexerEnvSchema, env);
  const sessions = parsed.EMBEDDER_SESSIONS ?? os.availableParallelism();
  return {
    ...parsed,
    rankingLabelFields: parsed.RANKING
      ? parsed.RANKING_LABEL_FIELDS.split(',')
          .map((f) => f.trim())
          .filter(Boolean)
      : [],
    rankingColourField: parsed.RANKING_COLOUR_FIELD === 'none' ? null : parsed.RANKING_COLOUR_FIELD.trim(),
    itemConcurrency: parsed.ITEM_CONCURRENCY ?? Math.max(2, sessions * 2),
    workerName: parsed.WORKER_NAME ?? `${os.hostname()}:${process.pid}`,
    imageAllowedHosts: (parsed.IMAGE_ALLOWED_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
  };
}
