import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LookalikeError, createLogger, type Env, type Logger } from '@lookalike/config';
import { InProcessEventIngestor } from '@lookalike/events';
import type { ItemSource } from '@lookalike/contracts';
import { FieldIndex, matchesFilter, type FieldFacet } from '@lookalike/filter';
import { buildApp, type App } from '../src/app';
import { loadConfig, type ApiConfig } from '../src/config';
import type {
  ApiDeps,
  CatalogueJob,
  CatalogueJobs,
  EmbedOptions,
  EventSink,
  Filter,
  ImageEmbedder,
  JobState,
  JobView,
  Metadata,
  ModelIdentity,
  QueryEmbedding,
  SearchHit,
  SearchOptions,
  SearchOutcome,
  SearchRequest,
  SnapshotRefusal,
  SnapshotSource,
  SnapshotView,
  StoredItem,
} from '../src/ports';

export const repoRoot = path.resolve(__dirname, '../../..');
export const sharedDir = process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
export const modelCacheDir = path.join(repoRoot, '.cache/models');
export const modelMirror = path.join(sharedDir, 'models');
export const hasSharedModels = existsSync(modelMirror);
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Quiet, unthrottled defaults for tests; any variable can be overridden. */
export function testConfig(overrides: Env = {}): ApiConfig {
  return loadConfig({ RATE_LIMIT_MAX: '0', LOG_LEVEL: 'silent', ...overrides });
}

// ---------------------------------------------------------------------------------------------
// Fakes for route tests (the real components are exercised in *.real.test.ts)

export const FAKE_MODEL: ModelIdentity = { id: 'fake-model', sha256: 'a'.repeat(64), dimension: 8 };

/** Deterministic unit vector from bytes, so the same image always finds itself. */
export function fakeVector(bytes: Uint8Array, dimension = FAKE_MODEL.dimension): Float32Array {
  const digest = createHash('sha256').update(bytes).digest();
  const vector = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) vector[i] = ((digest[i % digest.length] as number) - 127.5) / 127.5;
  let norm = 0;
  for (const v of vector) norm += v * v;
  norm = Math.sqrt(norm);
  return vector.map((v) => v / norm);
}

class CodedError extends LookalikeError {}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** The index store's filter rule (absent filter: everything). */
function matches(metadata: Metadata, filter: Filter | undefined): boolean {
  return !filter || matchesFilter(metadata, filter);
}

export interface FakeItem {
  id: string;
  vector: Float32Array;
  metadata: Metadata;
  /** Where the image came from, as index-store keeps it (internal: never in a response). */
  source?: ItemSource;
}

/** An in-memory snapshot with the index-store's search semantics (brute force). */
export class FakeSnapshot implements SnapshotView {
  readonly count: number;
  readonly builtAt = '2024-01-01T00:00:00.000Z';
  /** A fake serves the raw vectors: no projection (the real snapshot's projection is tested in projection.test.ts). */
  readonly projection = null;
  private readonly items: Map<string, FakeItem>;

  constructor(
    readonly version: number,
    items: FakeItem[],
    readonly model: ModelIdentity = FAKE_MODEL,
  ) {
    this.items = new Map(items.map((item) => [item.id, item]));
    this.count = items.length;
  }

  get dimension(): number {
    return this.model.dimension;
  }

  projector(): null {
    return null;
  }

  get(id: string): StoredItem | undefined {
    const item = this.items.get(id);
    return (
      item && {
        id,
        metadata: item.metadata,
        contentHash: 'b'.repeat(64),
        indexedAt: this.builtAt,
        ...(item.source ? { source: item.source } : {}),
      }
    );
  }

  ids(): Iterable<string> {
    return this.items.keys();
  }

  vectorOf(id: string): Float32Array | undefined {
    const vector = this.items.get(id)?.vector;
    return vector && Float32Array.from(vector);
  }

  search(vector: Float32Array, options: SearchOptions, exclude?: string): SearchHit[] {
    const excluded = new Set(options.exclude ?? []);
    const hits = [...this.items.values()]
      .filter(
        (item) => item.id !== exclude && !excluded.has(item.id) && matches(item.metadata, options.filter),
      )
      .map((item) => ({ id: item.id, score: dot(vector, item.vector), metadata: item.metadata }))
      .filter((hit) => options.minScore === undefined || hit.score >= options.minScore)
      .sort((a, b) => b.score - a.score);
    return hits.slice(0, options.k);
  }

  searchById(id: string, options: SearchOptions): SearchHit[] {
    const item = this.items.get(id);
    if (!item) throw new CodedError('ITEM_NOT_FOUND', `No item ${id}`);
    return this.search(item.vector, options, id);
  }

  /** How many searchMany calls answered how many queries (the batcher's work, seen from a test). */
  readonly batches: number[] = [];

  searchMany(requests: readonly SearchRequest[]): SearchOutcome[] {
    this.batches.push(requests.length);
    return requests.map((request) => {
      try {
        const hits =
          'id' in request
            ? this.searchById(request.id, request.options)
            : this.search(request.vector, request.options);
        return { hits };
      } catch (err) {
        return { error: err as Error };
      }
    });
  }

  /** The same field index the real snapshot uses, over the fake's items in insertion order. */
  private fieldIndexCache: FieldIndex | undefined;
  private get fieldIndex(): FieldIndex {
    const items = [...this.items.values()];
    return (this.fieldIndexCache ??= FieldIndex.build((p) => items[p]?.metadata ?? {}, items.length));
  }

  metadataFields(): Record<string, string[]> {
    return this.fieldIndex.topValues();
  }

  facets(): FieldFacet[] {
    return this.fieldIndex.facets();
  }

  page(filter: Filter | undefined, offset: number, limit: number): { total: number; items: StoredItem[] } {
    const ids = [...this.items.keys()];
    const { total, positions } = this.fieldIndex.page(filter, offset, limit);
    return { total, items: positions.map((p) => this.get(ids[p] as string) as StoredItem) };
  }
}

export class FakeSnapshots implements SnapshotSource {
  reloads = 0;
  rejections = 0;
  refusal: SnapshotRefusal | null = null;
  constructor(private snapshot: SnapshotView | null = null) {}
  current(): SnapshotView | null {
    return this.snapshot;
  }
  swap(snapshot: SnapshotView | null): void {
    this.snapshot = snapshot;
    this.reloads += 1;
  }
}

/** Job bookkeeping in memory; `down` makes every call fail like an unreachable Redis. */
export class FakeQueue implements CatalogueJobs {
  readonly jobs = new Map<string, { job: CatalogueJob; view: JobView }>();
  down: 'refuse' | 'hang' | false = false;
  private next = 1;

  private async gate(): Promise<void> {
    if (this.down === 'refuse') throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    if (this.down === 'hang') await new Promise(() => {});
  }

  async enqueue(job: CatalogueJob): Promise<string> {
    await this.gate();
    const id = String(this.next++);
    this.jobs.set(id, {
      job,
      view: {
        id,
        kind: job.kind,
        state: 'waiting',
        progress: 0,
        result: null,
        failedReason: null,
        failedCode: null,
        attemptsMade: 0,
        createdAt: new Date().toISOString(),
        finishedAt: null,
      },
    });
    return id;
  }

  async getJob(jobId: string): Promise<JobView | null> {
    await this.gate();
    return this.jobs.get(jobId)?.view ?? null;
  }

  async counts(): Promise<Record<JobState, number>> {
    await this.gate();
    const counts: Record<JobState, number> = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 };
    for (const { view } of this.jobs.values()) counts[view.state] += 1;
    return counts;
  }

  async ping(): Promise<boolean> {
    if (this.down) return false;
    return true;
  }
}

/**
 * The event log in memory, with the real one's dedupe by eventId; `down` fails every append like an
 * unreachable Redis. (RedisEventLog itself is tested on Redis in packages/events and events.test.ts.)
 */
export class FakeEventLog implements EventSink {
  readonly stored: Array<Parameters<EventSink['append']>[0][number]> = [];
  private readonly seen = new Set<string>();
  down = false;

  async append(events: Parameters<EventSink['append']>[0]): ReturnType<EventSink['append']> {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    const ids = events.map((event) => {
      if (this.seen.has(event.eventId)) return null;
      this.seen.add(event.eventId);
      this.stored.push(event);
      return `${Date.now()}-${this.stored.length}`;
    });
    const accepted = ids.filter((id) => id !== null).length;
    return { accepted, duplicates: ids.length - accepted, ids };
  }
}

/** Hashes bytes into a vector; refuses what is obviously not an image, like the real one would. */
export class FakeEmbedder implements ImageEmbedder {
  readonly model = FAKE_MODEL;
  calls = 0;
  /** The options of each embed, in call order (what the routes forward, e.g. a crop). */
  readonly options: EmbedOptions[] = [];
  /** Resolve to let held embeds finish (concurrency tests). */
  hold: Promise<void> | null = null;

  async embed(image: Uint8Array, options: EmbedOptions = {}): Promise<QueryEmbedding> {
    this.calls += 1;
    this.options.push(options);
    if (this.hold) await this.hold;
    if (image.length === 0) throw new CodedError('IMAGE_EMPTY', 'The image is empty');
    const head = Buffer.from(image.subarray(0, 4)).toString('latin1');
    if (!head.startsWith('\x89PNG') && !head.startsWith('\xff\xd8')) {
      throw new CodedError('IMAGE_UNSUPPORTED', 'Not a supported image format');
    }
    return { vector: fakeVector(image), model: this.model };
  }
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  json(): Record<string, unknown>;
}

export interface RequestOptions {
  method?: string;
  /** Sent as application/json. */
  json?: unknown;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

/** One real HTTP request (fetch over loopback); the body is read in full. */
export async function httpRequest(
  baseUrl: string,
  path: string,
  options: RequestOptions = {},
): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${baseUrl}${path}`, {
    method: options.method ?? 'GET',
    headers,
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return {
    statusCode: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

export interface TestApp {
  app: App;
  url: string;
  config: ApiConfig;
  snapshots: FakeSnapshots;
  queue: FakeQueue;
  embedder: FakeEmbedder;
  /** The event log the app appends to: the fake unless one was passed in. */
  events: EventSink;
  request(path: string, options?: RequestOptions): Promise<HttpResponse>;
}

/** An app over fakes (and the real ImageSource unless replaced), listening on a loopback port. */
export async function buildTestApp(
  env: Env = {},
  /** `events`: the sink the app's (in-process) ingestor appends to; the fake unless given. */
  overrides: Partial<Omit<ApiDeps, 'events'>> & { snapshots?: FakeSnapshots; events?: EventSink } = {},
  /** A logger to build the app with (a test that reads the log lines); else API_TEST_LOG decides. */
  given: { logger?: Logger } = {},
): Promise<TestApp> {
  const { ImageSource } = await import('@lookalike/image-source');
  const config = testConfig(env);
  const snapshots = overrides.snapshots ?? new FakeSnapshots();
  const queue = new FakeQueue();
  const embedder = new FakeEmbedder();
  const events = overrides.events ?? new FakeEventLog();
  const deps: ApiDeps = {
    embedder,
    snapshots,
    queue,
    images: new ImageSource({
      maxBytes: config.MAX_UPLOAD_BYTES,
      timeoutMs: config.IMAGE_FETCH_TIMEOUT_MS,
      maxRedirects: config.IMAGE_MAX_REDIRECTS,
      allowPrivateNetworks: config.ALLOW_PRIVATE_IMAGE_URLS,
    }),
    ...overrides,
    events: new InProcessEventIngestor(events),
  };
  // API_TEST_LOG=debug shows the app's log while debugging a test.
  const logLevel = process.env.API_TEST_LOG;
  const logger = given.logger ?? (logLevel ? createLogger('api-test', logLevel) : undefined);
  const app = await buildApp({ config, deps, docsUi: true, ...(logger ? { logger } : {}) });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    app,
    url,
    config,
    snapshots,
    queue,
    embedder,
    events,
    request: (path, options) => httpRequest(url, path, options),
  };
}

export * from './contract';
export * from './fixtures';
