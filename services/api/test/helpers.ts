import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import sharp from 'sharp';
import { LookalikeError, createLogger, type Env } from '@lookalike/config';
import { buildApp, type App } from '../src/app';
import { loadConfig, type ApiConfig } from '../src/config';
import type {
  ApiDeps,
  CatalogueJob,
  CatalogueJobs,
  Filter,
  ImageEmbedder,
  JobState,
  JobView,
  Metadata,
  ModelIdentity,
  QueryEmbedding,
  SearchHit,
  SearchOptions,
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

function matches(metadata: Metadata, filter: Filter | undefined): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([field, condition]) => {
    // Like the index store: values compare as strings (2012 matches "2012").
    const wanted = (Array.isArray(condition) ? condition : [condition]).map(String);
    return metadata[field] !== undefined && wanted.includes(String(metadata[field]));
  });
}

export interface FakeItem {
  id: string;
  vector: Float32Array;
  metadata: Metadata;
}

/** An in-memory snapshot with the index-store's search semantics (brute force). */
export class FakeSnapshot implements SnapshotView {
  readonly count: number;
  readonly builtAt = '2024-01-01T00:00:00.000Z';
  private readonly items: Map<string, FakeItem>;

  constructor(
    readonly version: number,
    items: FakeItem[],
    readonly model: ModelIdentity = FAKE_MODEL,
  ) {
    this.items = new Map(items.map((item) => [item.id, item]));
    this.count = items.length;
  }

  get(id: string): StoredItem | undefined {
    const item = this.items.get(id);
    return item && { id, metadata: item.metadata, contentHash: 'b'.repeat(64), indexedAt: this.builtAt };
  }

  search(vector: Float32Array, options: SearchOptions, exclude?: string): SearchHit[] {
    const hits = [...this.items.values()]
      .filter((item) => item.id !== exclude && matches(item.metadata, options.filter))
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

  metadataFields(): Record<string, string[]> {
    const fields: Record<string, Set<string>> = {};
    for (const item of this.items.values()) {
      for (const [key, value] of Object.entries(item.metadata))
        (fields[key] ??= new Set()).add(String(value));
    }
    return Object.fromEntries(Object.entries(fields).map(([key, values]) => [key, [...values]]));
  }
}

export class FakeSnapshots implements SnapshotSource {
  reloads = 0;
  rejections = 0;
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

/** Hashes bytes into a vector; refuses what is obviously not an image, like the real one would. */
export class FakeEmbedder implements ImageEmbedder {
  readonly model = FAKE_MODEL;
  calls = 0;
  /** Resolve to let held embeds finish (concurrency tests). */
  hold: Promise<void> | null = null;

  async embed(image: Uint8Array): Promise<QueryEmbedding> {
    this.calls += 1;
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
  request(path: string, options?: RequestOptions): Promise<HttpResponse>;
}

/** An app over fakes (and the real ImageSource unless replaced), listening on a loopback port. */
export async function buildTestApp(
  env: Env = {},
  overrides: Partial<ApiDeps> & { snapshots?: FakeSnapshots } = {},
): Promise<TestApp> {
  const { ImageSource } = await import('@lookalike/image-source');
  const config = testConfig(env);
  const snapshots = overrides.snapshots ?? new FakeSnapshots();
  const queue = new FakeQueue();
  const embedder = new FakeEmbedder();
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
  };
  // API_TEST_LOG=debug shows the app's log while debugging a test.
  const logLevel = process.env.API_TEST_LOG;
  const logger = logLevel ? createLogger('api-test', logLevel) : undefined;
  const app = await buildApp({ config, deps, docsUi: true, ...(logger ? { logger } : {}) });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    app,
    url,
    config,
    snapshots,
    queue,
    embedder,
    request: (path, options) => httpRequest(url, path, options),
  };
}

// ---------------------------------------------------------------------------------------------
// Images

export async function solidPng(rgb: [number, number, number], width = 64, height = 64): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

/** A photo-like JPEG: gradient, shapes and noise, different per seed. */
export async function sceneJpeg(seed: number, width = 320, height = 240): Promise<Buffer> {
  const hue = (seed * 67) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="hsl(${hue},70%,60%)"/><stop offset="1" stop-color="hsl(${(hue + 120) % 360},60%,30%)"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${40 + ((seed * 37) % 200)}" cy="${60 + ((seed * 53) % 120)}" r="${20 + (seed % 5) * 10}" fill="hsl(${(hue + 200) % 360},80%,50%)"/>
    <rect x="${(seed * 29) % 160}" y="${(seed * 17) % 100}" width="90" height="50" fill="hsl(${(hue + 90) % 360},50%,70%)" transform="rotate(${seed * 13} 160 120)"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid 1-bit PNG of width × height pixels: a few KB on the wire, gigapixels when decoded. */
export function pixelBombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1;
  ihdr[9] = 0;
  const rows = Math.min(height, 64); // enough IDAT to look real; the header is what a bomb abuses
  const idat = deflateSync(Buffer.alloc((1 + Math.ceil(width / 8)) * rows), { level: 9 });
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** A multipart/form-data body built by hand, so tests control every byte. */
export function multipartBody(
  parts: Array<
    { name: string; value: string } | { name: string; filename: string; contentType: string; data: Buffer }
  >,
  boundary = '----lookalike-test-boundary',
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('data' in part) {
      chunks.push(
        Buffer.from(
          `Content-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
            `Content-Type: ${part.contentType}\r\n\r\n`,
        ),
        part.data,
        Buffer.from('\r\n'),
      );
    } else {
      chunks.push(
        Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

// ---------------------------------------------------------------------------------------------
// Contract: responses checked against the committed openapi/openapi.json

export const OPENAPI_FILE = path.join(repoRoot, 'openapi/openapi.json');

interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
}

const pointer = (...segments: string[]) =>
  segments.map((s) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');

export interface ContractResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Validates responses against the committed document: the status must be documented for the
 * operation (`default` covers 5xx only), the media type listed, and the body valid for its schema.
 */
export class ContractChecker {
  readonly document: OpenApiDocument;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  /** `METHOD path status` of every validated response. */
  readonly seen = new Set<string>();

  constructor(file = OPENAPI_FILE) {
    this.document = JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument;
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(this.ajv);
    this.ajv.addSchema(this.document as object, 'openapi.json');
  }

  operations(): Array<{ method: string; path: string }> {
    return Object.entries(this.document.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path: p })),
    );
  }

  check(method: string, templatePath: string, response: ContractResponse): void {
    const operation = this.document.paths[templatePath]?.[method.toLowerCase()];
    if (!operation) throw new Error(`${method} ${templatePath} is not in the OpenAPI document`);
    const status = String(response.statusCode);
    // `default` stands in only for unexpected server errors; every other status must be listed.
    const key = operation.responses[status]
      ? status
      : response.statusCode >= 500 && operation.responses.default
        ? 'default'
        : null;
    if (!key) throw new Error(`${method} ${templatePath}: status ${status} is not documented`);
    const documented = operation.responses[key];
    const content = documented?.content;
    const contentType = String(response.headers['content-type'] ?? '');
    if (!content) {
      if (response.body.length > 0) throw new Error(`${method} ${templatePath} ${status}: undocumented body`);
      this.seen.add(`${method} ${templatePath} ${status}`);
      return;
    }
    const mediaType = contentType.split(';')[0]?.trim() ?? '';
    if (!content[mediaType]) {
      throw new Error(
        `${method} ${templatePath} ${status}: content-type ${contentType} not documented (${Object.keys(content).join(', ')})`,
      );
    }
    const schemaRef = `openapi.json#/${pointer('paths', templatePath, method.toLowerCase(), 'responses', key, 'content', mediaType, 'schema')}`;
    let validate = this.validators.get(schemaRef);
    if (!validate) {
      validate = this.ajv.compile({ $ref: schemaRef });
      this.validators.set(schemaRef, validate);
    }
    const body: unknown = mediaType.endsWith('json') ? JSON.parse(response.body) : response.body;
    if (!validate(body)) {
      throw new Error(
        `${method} ${templatePath} ${status}: body does not match the document: ` +
          `${this.ajv.errorsText(validate.errors)}\n${response.body.slice(0, 500)}`,
      );
    }
    this.seen.add(`${method} ${templatePath} ${status}`);
  }
}
