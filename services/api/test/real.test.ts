/**
 * The API as server.ts starts it — real Embedder (default model from the shared mirror), real
 * SnapshotReader over a temp data dir, real CatalogueQueue on real Redis (unique prefix), real HTTP
 * on a loopback port — with a small in-test worker standing in for the indexer: it takes jobs from
 * the same queue, embeds with its own Embedder and publishes with the real SnapshotWriter.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, isLookalikeError } from '@lookalike/config';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotWriter } from '@lookalike/index-store';
import {
  buildJobResult,
  createCatalogueWorker,
  createRedisConnection,
  type ItemFailure,
  type JobOutcomeLists,
  type JobResult,
} from '@lookalike/queue';
import type { Redis } from 'ioredis';
import { startServer, type RunningServer } from '../src/server';
import { deleteQueueKeys } from '../../../tests/support/indexer';
import {
  ContractChecker,
  hasSharedModels,
  httpRequest,
  modelCacheDir,
  modelMirror,
  multipartBody,
  redisUrl,
  sceneJpeg,
  type HttpResponse,
  type RequestOptions,
} from './helpers';

const describeReal = hasSharedModels ? describe : describe.skip;
const contract = new ContractChecker();
const API_KEY = 'real-test-key-0123456789';
const auth = { authorization: `Bearer ${API_KEY}` };

async function poll<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

describeReal('API on real components', () => {
  const prefix = `api-real-${process.pid}-${Date.now()}`;
  let dataDir: string;
  let server: RunningServer;
  let embedder: Embedder;
  let writer: SnapshotWriter;
  let worker: ReturnType<typeof createCatalogueWorker>;
  let workerConnection: Redis;
  const images: Buffer[] = [];

  const call = async (template: string, requestPath: string, options: RequestOptions = {}) => {
    const response = await httpRequest(server.url, requestPath, options);
    contract.check(options.method ?? 'GET', template, response);
    return response;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-real-'));
    for (const seed of [11, 22, 33]) images.push(await sceneJpeg(seed));

    // The stand-in indexer: same queue, its own embedder, the real writer.
    embedder = await createEmbedder({
      model: 'mobilenetv2-shufflenetv2-int8',
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 1,
    });
    writer = await SnapshotWriter.open({ dataDir, model: embedder.model });
    const source = new ImageSource({ maxBytes: 10 * 1024 * 1024, timeoutMs: 5000, maxRedirects: 0 });
    workerConnection = createRedisConnection(redisUrl, 'worker');
    worker = createCatalogueWorker({ connection: workerConnection, prefix }, async (job) => {
      // A worker of its own: it shows that the API serves whatever result the worker returns.
      let lists: JobOutcomeLists = {};
      if (job.kind === 'upsert') {
        const upserts = [];
        const failed: ItemFailure[] = [];
        for (const item of job.items) {
          try {
            const bytes = await source.load(item);
            const { vector } = await embedder.embed(bytes);
            const contentHash = createHash('sha256').update(bytes).digest('hex');
            upserts.push({ id: item.id, vector, metadata: item.metadata, contentHash });
          } catch (err) {
            if (!isLookalikeError(err)) throw err;
            failed.push({ id: item.id, code: err.code, reason: err.message });
          }
        }
        const published = await writer.publish({ upserts, deletes: [] });
        lists = { indexed: published.upserted, failed, version: published.version };
      } else if (job.kind === 'delete') {
        const published = await writer.publish({ upserts: [], deletes: job.ids });
        lists = {
          deleted: published.deleted,
          notFound: published.unknownDeletes,
          version: published.version,
        };
      }
      return buildJobResult(lists);
    });

    server = await startServer({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      MODEL_CACHE_DIR: modelCacheDir,
      MODEL_MIRROR: modelMirror,
      RELOAD_POLL_MS: '100',
      INFERENCE_CONCURRENCY: '1',
      RATE_LIMIT_MAX: '0',
      API_KEY,
      LOG_LEVEL: process.env.API_TEST_LOG ?? 'silent',
    });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await worker?.close();
    workerConnection?.disconnect();
    await writer?.close();
    await embedder?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await deleteQueueKeys(redisUrl, prefix);
  });

  async function waitForJob(jobId: string): Promise<Record<string, unknown>> {
    return poll(`job ${jobId}`, async () => {
      const response = await call('/v1/jobs/{jobId}', `/v1/jobs/${jobId}`);
      expect(response.statusCode).toBe(200);
      const job = response.json();
      expect(job.state).not.toBe('failed');
      return job.state === 'completed' ? job : undefined;
    });
  }

  async function waitForVersion(version: number): Promise<Record<string, unknown>> {
    return poll(`snapshot version ${version}`, async () => {
      const response = await call('/v1/index', '/v1/index');
      return response.statusCode === 200 && (response.json().version as number) >= version
        ? response.json()
        : undefined;
    });
  }

  async function searchByUpload(image: Buffer, k = 5): Promise<HttpResponse> {
    const form = multipartBody([
      { name: 'k', value: String(k) },
      { name: 'image', filename: 'query.jpg', contentType: 'image/jpeg', data: image },
    ]);
    return call('/v1/similar', '/v1/similar', {
      method: 'POST',
      body: form.body,
      headers: { 'content-type': form.contentType },
    });
  }

  test('before any snapshot: not ready, but up; reads say NO_SNAPSHOT', async () => {
    expect((await call('/healthz', '/healthz')).statusCode).toBe(200);
    const ready = await call('/readyz', '/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks).toEqual({ snapshot: { ok: false, version: null }, redis: { ok: true } });
    const index = await call('/v1/index', '/v1/index');
    expect(index.json().code).toBe('NO_SNAPSHOT');
  });

  test('upsert three generated images, poll the job, query by upload and by id, delete one, see it go after the reload', async () => {
    const items = images.map((image, i) => ({
      id: `item-${i + 1}`,
      imageBase64: image.toString('base64'),
      metadata: { colour: i === 0 ? 'red' : 'blue', rank: i + 1 },
    }));

    const refused = await call('/v1/items', '/v1/items', { method: 'POST', json: { items } });
    expect(refused.statusCode).toBe(401);

    const accepted = await call('/v1/items', '/v1/items', { method: 'POST', json: { items }, headers: auth });
    expect(accepted.statusCode).toBe(202);
    const upsertJob = await waitForJob(accepted.json().jobId as string);
    expect(upsertJob.kind).toBe('upsert');
    expect((upsertJob.result as JobResult).indexed.sort()).toEqual(['item-1', 'item-2', 'item-3']);
    expect((upsertJob.result as JobResult).failed).toEqual([]);

    const index = await waitForVersion((upsertJob.result as JobResult).version as number);
    expect(index).toMatchObject({ count: 3, model: 'mobilenetv2-shufflenetv2-int8', dimension: 2304 });
    const version1 = index.version as number;
    const ready = await call('/readyz', '/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toEqual({ snapshot: { ok: true, version: version1 }, redis: { ok: true } });

    // By upload: the same picture is its own best match.
    const byUpload = await searchByUpload(images[1] as Buffer);
    expect(byUpload.statusCode).toBe(200);
    const uploadResults = byUpload.json().results as Array<{ id: string; score: number }>;
    expect(byUpload.json().indexVersion).toBe(version1);
    expect(uploadResults.map((r) => r.id).sort()).toEqual(['item-1', 'item-2', 'item-3']);
    expect(uploadResults[0]?.id).toBe('item-2');
    expect(uploadResults[0]?.score).toBeGreaterThan(0.99);

    // By id: stored vector, the item itself left out, filter applied.
    const byId = await call('/v1/items/{id}/similar', '/v1/items/item-1/similar?k=5');
    expect((byId.json().results as Array<{ id: string }>).map((r) => r.id).sort()).toEqual([
      'item-2',
      'item-3',
    ]);
    const filtered = await call('/v1/items/{id}/similar', '/v1/items/item-1/similar?filter=rank:3');
    expect((filtered.json().results as Array<{ id: string }>).map((r) => r.id)).toEqual(['item-3']);

    const item = await call('/v1/items/{id}', '/v1/items/item-1');
    expect(item.json()).toMatchObject({
      id: 'item-1',
      metadata: { colour: 'red', rank: 1 },
      indexVersion: version1,
      contentHash: createHash('sha256')
        .update(images[0] as Buffer)
        .digest('hex'),
    });

    // Delete one; it disappears once the new snapshot is swapped in — same process, no restart.
    const deleted = await call('/v1/items/{id}', '/v1/items/item-3', { method: 'DELETE', headers: auth });
    expect(deleted.statusCode).toBe(202);
    const deleteJob = await waitForJob(deleted.json().jobId as string);
    expect((deleteJob.result as JobResult).deleted).toEqual(['item-3']);
    const index2 = await waitForVersion((deleteJob.result as JobResult).version as number);
    expect(index2.count).toBe(2);

    const afterDelete = await searchByUpload(images[2] as Buffer);
    expect(afterDelete.json().indexVersion).toBe(index2.version);
    expect((afterDelete.json().results as Array<{ id: string }>).map((r) => r.id).sort()).toEqual([
      'item-1',
      'item-2',
    ]);
    expect((await call('/v1/items/{id}', '/v1/items/item-3')).statusCode).toBe(404);
    expect((await call('/readyz', '/readyz')).json().checks).toMatchObject({
      snapshot: { version: index2.version },
    });

    const metrics = (await call('/metrics', '/metrics')).body;
    expect(metrics).toContain(`lookalike_index_version ${String(index2.version)}`);
    expect(metrics).toContain('lookalike_index_items 2');
    expect(metrics).toMatch(/lookalike_index_reloads_total [2-9]/);
    expect(metrics).toMatch(/lookalike_queue_jobs\{state="completed"\} [2-9]/);
    expect(metrics).toMatch(/lookalike_inference_duration_seconds_count\{outcome="ok"\} [2-9]/);

    const reindex = await call('/v1/reindex', '/v1/reindex', { method: 'POST', headers: auth });
    expect(reindex.statusCode).toBe(202);
  }, 120_000);

  test('graceful close: an in-flight query finishes, then the port is closed', async () => {
    const inFlight = searchByUpload(images[0] as Buffer);
    // Close only once the server has admitted the query (it is then in flight, not refused).
    const admitted = async () => {
      let total = 0;
      for (const name of ['lookalike_inference_running', 'lookalike_inference_waiting']) {
        const metric = await server.app.metrics.registry.getSingleMetric(name)?.get();
        total += metric?.values[0]?.value ?? 0;
      }
      return total;
    };
    await poll(
      'the query to be admitted',
      async () => ((await admitted()) > 0 ? true : undefined),
      10_000,
      1,
    );
    const closing = server.close();
    const response = await inFlight;
    expect(response.statusCode).toBe(200);
    await closing;
    await expect(httpRequest(server.url, '/healthz')).rejects.toThrow();
  }, 60_000);
});

describe('startServer', () => {
  test('refuses bad configuration before opening anything', async () => {
    await expect(startServer({ PORT: 'x', MAX_K: '0' })).rejects.toBeInstanceOf(ConfigError);
  });
});
