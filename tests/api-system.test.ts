/**
 * The REST API end to end, as deployed: `services/api/dist/server.js` as a process on a real port, a
 * real indexer process (`services/indexer/dist/main.js`), the shared Redis under this test's own
 * prefix, one data dir. Three generated (sharp-drawn) images go in through POST /v1/items, the job
 * is followed through GET /v1/jobs/{id}, the catalogue is queried by upload and by id, one item is
 * deleted and leaves the results once the API has hot-reloaded the next snapshot — same API
 * process, no restart. Every response is also checked against openapi/openapi.json.
 */
import net from 'node:net';
import { multipartBody, sceneJpeg } from '../services/api/test/fixtures';
import {
  apiEnv,
  deleteQueueKeys,
  indexerEnv,
  killAllProcesses,
  pollUntil,
  readPublished,
  sharedRedisUrl,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';
import {
  ContractClient,
  halfSentRequest,
  type ApiReply,
  type JobBody,
  type ProblemBody,
  type SimilarBody,
} from './support/api-client';

jest.setTimeout(240_000);

const API_KEY = 'system-test-key-0123456789';
const bearer = { authorization: `Bearer ${API_KEY}` };
const IDS = ['sys-1', 'sys-2', 'sys-3'];

const ids = (body: SimilarBody) => body.results.map((hit) => hit.id);

/** Every metadata key anywhere in a JSON body (to prove internal `_` keys never get out). */
function metadataKeys(value: unknown, keys: string[] = []): string[] {
  if (Array.isArray(value)) for (const entry of value) metadataKeys(entry, keys);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, entry] of Object.entries(value)) {
      if (key === 'metadata' && typeof entry === 'object' && entry !== null) keys.push(...Object.keys(entry));
      else metadataKeys(entry, keys);
    }
  }
  return keys;
}

describe('API system: API and indexer processes on real Redis', () => {
  const prefix = uniquePrefix('api-system');
  const data = tempDir('api-system');
  let indexer: ServiceProcess;
  let api: RunningApi;
  let client: ContractClient;
  let images: Buffer[] = [];
  const metadataSent: Array<Record<string, string | number>> = [
    { colour: 'warm', group: 'a', seed: 3 },
    { colour: 'cool', group: 'a', seed: 40 },
    { colour: 'cool', group: 'b', seed: 77 },
  ];
  const versions: { first?: number; afterDelete?: number } = {};
  /** Every JSON body received, checked at the end for internal metadata. */
  const bodies: unknown[] = [];

  const call = async (...args: Parameters<ContractClient['call']>): Promise<ApiReply> => {
    const reply = await client.call(...args);
    if (reply.headers['content-type']?.includes('json')) bodies.push(reply.json());
    return reply;
  };
  const upload = async (image: Buffer, fields: Record<string, string> = {}) => {
    const reply = await client.searchByUpload(image, fields);
    bodies.push(reply.json());
    return reply;
  };

  const finishedJob = (jobId: string) =>
    pollUntil(
      async () => {
        const reply = await call(`/v1/jobs/${jobId}`);
        expect(reply.status).toBe(200);
        const job = reply.json<JobBody>();
        if (job.state === 'failed') throw new Error(`job ${jobId} failed: ${job.failedReason}`);
        return job.state === 'completed' ? job : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, description: `job ${jobId} to complete` },
    );

  /** Waits for the API (not the disk) to serve `version`: the hot reload has happened. */
  const servedVersion = (version: number) =>
    pollUntil(
      async () => {
        const reply = await call('/v1/index');
        const index = reply.status === 200 ? reply.json<{ version: number; count: number }>() : undefined;
        return index && index.version === version ? index : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, description: `the API to serve snapshot ${version}` },
    );

  beforeAll(async () => {
    images = await Promise.all([sceneJpeg(3), sceneJpeg(40), sceneJpeg(77)]);
    [indexer, api] = await Promise.all([
      startIndexer(
        'indexer',
        indexerEnv({
          redisUrl: sharedRedisUrl,
          prefix,
          dataDir: data.dir,
          extra: { PUBLISH_DEBOUNCE_MS: '100' },
        }),
      ),
      startApi(
        'api',
        apiEnv({
          redisUrl: sharedRedisUrl,
          prefix,
          dataDir: data.dir,
          // Debug: the SIGTERM test sees a request arrive ('request received' is a debug line).
          extra: { API_KEY, RATE_LIMIT_MAX: '0', RELOAD_POLL_MS: '200', LOG_LEVEL: 'debug' },
        }),
      ),
    ]);
    client = new ContractClient(api.url);
  });

  afterAll(async () => {
    await api?.process.stop();
    await indexer?.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  test('before the first snapshot the API is up but not ready', async () => {
    const health = await call('/healthz');
    expect(health.status).toBe(200);
    const ready = await call('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json<ProblemBody>()).toMatchObject({
      code: 'NOT_READY',
      checks: { snapshot: { ok: false, version: null }, redis: { ok: true } },
    });
    expect(ready.headers['retry-after']).toBe('5');
    const index = await call('/v1/index');
    expect(index.status).toBe(503);
    expect(index.json<ProblemBody>().code).toBe('NO_SNAPSHOT');
  });

  let upsertJobId = '';

  test('POST /v1/items: 401 without the API key, 202 with it; reads need no key (API_KEY_READS=false)', async () => {
    const items = IDS.map((id, i) => ({
      id,
      imageBase64: (images[i] as Buffer).toString('base64'),
      metadata: metadataSent[i],
    }));

    const anonymous = await call('/v1/items', { method: 'POST', json: { items } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(anonymous.json<ProblemBody>().code).toBe('UNAUTHORIZED');
    const wrongKey = await call('/v1/items', {
      method: 'POST',
      json: { items },
      headers: { authorization: `Bearer ${API_KEY}-not` },
    });
    expect(wrongKey.status).toBe(401);

    const accepted = await call('/v1/items', { method: 'POST', json: { items }, headers: bearer });
    expect(accepted.status).toBe(202);
    upsertJobId = accepted.json<{ jobId: string }>().jobId;
    expect(accepted.headers.location).toBe(`/v1/jobs/${upsertJobId}`);

    // Reads are open: the job is visible without the key.
    const job = await call(`/v1/jobs/${upsertJobId}`);
    expect(job.status).toBe(200);
    expect(job.json<JobBody>()).toMatchObject({ id: upsertJobId, kind: 'upsert' });
  });

  test('the indexer completes the job (GET /v1/jobs/{id}); /v1/index and /readyz follow the live version', async () => {
    const job = await finishedJob(upsertJobId);
    expect(job.progress).toBe(100);
    expect(job.result?.indexed.sort()).toEqual(IDS);
    expect(job.result?.failed).toEqual([]);
    expect(job.result?.version).toEqual(expect.any(Number));
    versions.first = job.result?.version as number;

    const index = await servedVersion(versions.first);
    expect(index).toMatchObject({ count: 3, model: 'mobilenetv2-shufflenetv2-int8', dimension: 2304 });
    const ready = await call('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({
      status: 'ready',
      checks: { snapshot: { ok: true, version: versions.first }, redis: { ok: true } },
    });
  });

  test('query by upload (multipart): each generated image finds itself first, from the live version', async () => {
    for (const [i, image] of images.entries()) {
      const reply = await upload(image, { k: '3' });
      expect(reply.status).toBe(200);
      const body = reply.json<SimilarBody>();
      expect(body.indexVersion).toBe(versions.first);
      expect(body.model).toBe('mobilenetv2-shufflenetv2-int8');
      expect([...ids(body)].sort()).toEqual(IDS);
      expect(body.results[0]).toEqual({
        id: IDS[i],
        score: expect.any(Number),
        similarity: expect.any(Number),
        signals: ['visual'],
        metadata: metadataSent[i],
      });
      expect(body.results[0]?.score).toBeGreaterThan(0.99);
      const scores = body.results.map((hit) => hit.score);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    }
    // The same through JSON (base64), with a filter.
    const json = await call('/v1/similar', {
      method: 'POST',
      json: { imageBase64: (images[1] as Buffer).toString('base64'), k: 5, filter: 'colour:cool' },
    });
    expect(ids(json.json<SimilarBody>())).toEqual(['sys-2', 'sys-3']);
  });

  test('query by id: the stored vector, the item itself left out, filters applied', async () => {
    const byId = await call('/v1/items/sys-1/similar?k=5');
    expect(byId.status).toBe(200);
    const body = byId.json<SimilarBody>();
    expect(body.indexVersion).toBe(versions.first);
    expect([...ids(body)].sort()).toEqual(['sys-2', 'sys-3']);
    const filtered = await call('/v1/items/sys-1/similar?filter=group:b');
    expect(ids(filtered.json<SimilarBody>())).toEqual(['sys-3']);

    const item = await call('/v1/items/sys-2');
    expect(item.json()).toEqual({
      id: 'sys-2',
      metadata: metadataSent[1],
      contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      indexedAt: expect.any(String),
      indexVersion: versions.first,
    });
  });

  test('internal data: the indexer stores the source beside the metadata, the API never shows it and refuses _source from clients', async () => {
    // The snapshot on disk really keeps where the image came from (an upload: a content-addressed blob),
    // as the item's own field; the user's metadata is stored as given.
    const published = await readPublished(data.dir);
    expect(published?.sourceOf('sys-1')).toEqual({ blob: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(published?.metadataOf('sys-1')).not.toHaveProperty('_source');

    const refused = await call('/v1/items', {
      method: 'POST',
      headers: bearer,
      json: {
        items: [
          {
            id: 'sys-x',
            imageBase64: (images[0] as Buffer).toString('base64'),
            metadata: { colour: 'red', _source: 'url:http://169.254.169.254/latest/meta-data/' },
          },
        ],
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.json<ProblemBody>()).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [
        { path: '/body/items/0/metadata/_source', message: expect.stringContaining('reserved for internal') },
      ],
    });
    const filterOnInternal = await call('/v1/items/sys-1/similar?filter=_source:x');
    expect(filterOnInternal.status).toBe(400);

    // Everything received so far (results, items, jobs) is free of internal keys.
    expect(bodies.length).toBeGreaterThan(10);
    const keys = metadataKeys(bodies);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((key) => key.startsWith('_'))).toEqual([]);
  });

  test('DELETE one item: it leaves the results after the hot reload, in the same API process', async () => {
    const pid = api.process.pid;
    expect((await call('/v1/items/sys-3', { method: 'DELETE' })).status).toBe(401);
    const accepted = await call('/v1/items/sys-3', { method: 'DELETE', headers: bearer });
    expect(accepted.status).toBe(202);
    const job = await finishedJob(accepted.json<{ jobId: string }>().jobId);
    expect(job.kind).toBe('delete');
    expect(job.result?.deleted).toEqual(['sys-3']);
    versions.afterDelete = job.result?.version as number;
    expect(versions.afterDelete).toBeGreaterThan(versions.first as number);

    expect((await servedVersion(versions.afterDelete)).count).toBe(2);
    const ready = await call('/readyz');
    expect(ready.json<{ checks: { snapshot: { version: number } } }>().checks.snapshot.version).toBe(
      versions.afterDelete,
    );

    // Its own picture no longer finds it; the answer says which version answered.
    const byUpload = await upload(images[2] as Buffer, { k: '10' });
    expect(byUpload.json<SimilarBody>().indexVersion).toBe(versions.afterDelete);
    expect([...ids(byUpload.json<SimilarBody>())].sort()).toEqual(['sys-1', 'sys-2']);
    const byId = await call('/v1/items/sys-1/similar?k=10');
    expect(byId.json<SimilarBody>()).toMatchObject({ indexVersion: versions.afterDelete });
    expect(ids(byId.json<SimilarBody>())).toEqual(['sys-2']);
    const gone = await call('/v1/items/sys-3');
    expect(gone.status).toBe(404);
    expect(gone.json<ProblemBody>().code).toBe('ITEM_NOT_FOUND');
    expect((await call('/v1/items/sys-3/similar')).status).toBe(404);

    const metrics = (await call('/metrics')).body;
    expect(metrics).toContain(`lookalike_index_version ${versions.afterDelete}`);
    expect(metrics).toContain('lookalike_index_items 2');

    // No restart: the same process, started once, swapped both snapshots in.
    expect(api.process.running).toBe(true);
    expect(api.process.pid).toBe(pid);
    expect(api.process.logs.filter((line) => line.msg === 'listening')).toHaveLength(1);
    const swapped = api.process.logs
      .filter((line) => line.msg === 'snapshot swapped in')
      .map((l) => l.version);
    expect(swapped).toEqual(expect.arrayContaining([versions.first, versions.afterDelete]));
  });

  test('request logs: pino JSON lines carrying the request id', async () => {
    const traced = await call('/healthz', { headers: { 'x-request-id': 'sys-trace-42' } });
    expect(traced.headers['x-request-id']).toBe('sys-trace-42');
    const generated = await call('/v1/index');
    const generatedId = generated.headers['x-request-id'] as string;
    expect(generatedId).toMatch(/^[0-9a-f-]{36}$/);
    for (const reqId of ['sys-trace-42', generatedId]) {
      const line = await api.process.waitForLog(
        (l) => l.reqId === reqId && l.msg === 'request completed',
        5000,
        `request log of ${reqId}`,
      );
      expect(line).toMatchObject({ statusCode: 200, durationMs: expect.any(Number), method: 'GET' });
    }
    // One line per request, at info except for probes (debug).
    const lines = (reqId: string) => api.process.logs.filter((l) => l.reqId === reqId && l.level === 30);
    expect(lines(generatedId)).toEqual([expect.objectContaining({ route: '/v1/index', url: '/v1/index' })]);
    expect(lines('sys-trace-42')).toEqual([]);
    expect(
      api.process.logs.find((l) => l.reqId === 'sys-trace-42' && l.msg === 'request completed'),
    ).toMatchObject({ level: 20, route: '/healthz' });
  });

  test('SIGTERM with an upload in flight: no new connections, the upload is answered, everything closed, exit 0', async () => {
    const form = multipartBody([
      { name: 'k', value: '2' },
      { name: 'image', filename: 'q.jpg', contentType: 'image/jpeg', data: images[0] as Buffer },
    ]);
    const upload = halfSentRequest(`${api.url}/v1/similar`, {
      method: 'POST',
      body: form.body,
      headers: { 'content-type': form.contentType, 'x-request-id': 'sys-sigterm-upload' },
    });
    // The request is in flight (routed, waiting for the rest of its body) before the signal.
    await api.process.waitForLog(
      (l) => l.reqId === 'sys-sigterm-upload' && l.msg === 'request received',
      10_000,
      'the upload to be in flight',
    );
    api.process.child.kill('SIGTERM');
    await api.process.waitForLog((l) => l.msg === 'shutting down', 10_000, 'shutdown to begin');
    // Only once no new connection is accepted does the rest of the upload go out.
    await pollUntil(() => connectionRefused(api.port), {
      timeoutMs: 10_000,
      intervalMs: 20,
      description: 'the port to stop accepting',
    });
    upload.finish();

    const response = await upload.reply;
    expect(response.statusCode).toBe(200);
    client.contract.check('POST', '/v1/similar', response);
    expect((JSON.parse(response.body) as SimilarBody).results[0]?.id).toBe('sys-1');

    expect(await api.process.exited).toEqual({ code: 0, signal: null });
    const closed = api.process.logs.filter((l) => l.msg === 'component closed').map((l) => l.component);
    // HTTP first (in-flight requests finished), then the rest in reverse order of opening — the events'
    // ingest thread (with its Redis connection) and the Redis queue connection included — and
    // 'closed' last of all.
    expect(closed).toEqual([
      'http',
      'image source',
      'event ingest',
      'queue',
      'snapshot collector',
      'snapshot reader',
      'embedder',
    ]);
    expect({ last: api.process.logs.at(-1), tail: api.process.tail(8) }).toMatchObject({
      last: { msg: 'closed' },
    });
  });
});

/** True when a new TCP connection to the port is refused (the server stopped listening). */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
