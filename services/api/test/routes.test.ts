/**
 * Route behaviour over fakes (snapshot, queue, embedder) and the real ImageSource, over real HTTP.
 * Every response is validated against the committed openapi/openapi.json, and the last test checks
 * that every documented operation was exercised.
 */
import {
  ContractChecker,
  FAKE_MODEL,
  FakeSnapshot,
  buildTestApp,
  fakeVector,
  multipartBody,
  solidPng,
  type HttpResponse,
  type RequestOptions,
  type TestApp,
} from './helpers';

const contract = new ContractChecker();

/** A request to a documented route; the response is checked against the document. */
async function call(
  t: TestApp,
  template: string,
  options: RequestOptions & { url: string },
): Promise<HttpResponse> {
  const response = await t.request(options.url, options);
  contract.check(options.method ?? 'GET', template, response);
  return response;
}

const json = (response: HttpResponse) => response.json();

describe('routes over fakes', () => {
  let t: TestApp;
  let red: Buffer;
  let green: Buffer;
  let blue: Buffer;

  beforeAll(async () => {
    [red, green, blue] = await Promise.all([
      solidPng([220, 20, 20]),
      solidPng([20, 200, 20]),
      solidPng([20, 20, 220]),
    ]);
  });

  beforeEach(async () => {
    t = await buildTestApp();
  });

  afterEach(async () => {
    await t.app.close();
  });

  function loadCatalogue(version = 1): void {
    t.snapshots.swap(
      new FakeSnapshot(version, [
        { id: 'red-shirt', vector: fakeVector(red), metadata: { colour: 'red', kind: 'shirt', year: 2012 } },
        {
          id: 'green-shirt',
          vector: fakeVector(green),
          metadata: { colour: 'green', kind: 'shirt', year: 2013 },
        },
        { id: 'blue-shoe', vector: fakeVector(blue), metadata: { colour: 'blue', kind: 'shoe', year: 2012 } },
      ]),
    );
  }

  test('GET /healthz answers while nothing else is there', async () => {
    const response = await call(t, '/healthz', { method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ status: 'ok' });
    expect(response.headers['x-request-id']).toBeTruthy();
  });

  test('GET /readyz: 503 without a snapshot or Redis, 200 with both', async () => {
    let response = await call(t, '/readyz', { method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(response)).toMatchObject({
      code: 'NOT_READY',
      checks: { snapshot: { ok: false, version: null }, redis: { ok: true } },
    });

    loadCatalogue(7);
    response = await call(t, '/readyz', { method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      status: 'ready',
      checks: { snapshot: { ok: true, version: 7 }, redis: { ok: true } },
    });

    t.queue.down = 'refuse';
    response = await call(t, '/readyz', { method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(json(response).checks).toEqual({ snapshot: { ok: true, version: 7 }, redis: { ok: false } });
  });

  test('GET /metrics exposes latency histograms, index, reloads, queue and inference figures', async () => {
    loadCatalogue(3);
    await t.queue.enqueue({ kind: 'reindex' });
    await call(t, '/healthz', { method: 'GET', url: '/healthz' });
    const response = await call(t, '/metrics', { method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const text = response.body;
    expect(text).toMatch(/lookalike_http_request_duration_seconds_bucket\{.*route="\/healthz".*\} 1/);
    expect(text).toContain('lookalike_index_version 3');
    expect(text).toContain('lookalike_index_items 3');
    expect(text).toContain('lookalike_index_reloads_total 1');
    expect(text).toContain('lookalike_queue_jobs{state="waiting"} 1');
    expect(text).toContain('lookalike_inference_running 0');
    expect(text).toContain('lookalike_api_process_cpu_seconds_total');
  });

  test('GET /v1/index: 503 NO_SNAPSHOT, then the live snapshot', async () => {
    let response = await call(t, '/v1/index', { method: 'GET', url: '/v1/index' });
    expect(response.statusCode).toBe(503);
    expect(json(response)).toMatchObject({ code: 'NO_SNAPSHOT', status: 503 });
    expect(response.headers['retry-after']).toBe('5');

    loadCatalogue(4);
    response = await call(t, '/v1/index', { method: 'GET', url: '/v1/index' });
    expect(json(response)).toEqual({
      version: 4,
      count: 3,
      model: FAKE_MODEL.id,
      modelSha256: FAKE_MODEL.sha256,
      dimension: FAKE_MODEL.dimension,
      builtAt: '2024-01-01T00:00:00.000Z',
    });
  });

  test('POST /v1/similar (JSON base64) ranks the identical image first, best first', async () => {
    loadCatalogue(2);
    const response = await call(t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: red.toString('base64'), k: 3 },
    });
    expect(response.statusCode).toBe(200);
    const body = json(response) as {
      indexVersion: number;
      model: string;
      results: Array<{ id: string; score: number }>;
    };
    expect(body.indexVersion).toBe(2);
    expect(body.model).toBe(FAKE_MODEL.id);
    expect(body.results.map((r) => r.id)[0]).toBe('red-shirt');
    expect(body.results[0]?.score).toBeCloseTo(1, 5);
    const scores = body.results.map((r) => r.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  test('POST /v1/similar (multipart upload) with k, filter and minScore fields', async () => {
    loadCatalogue(2);
    const form = multipartBody([
      { name: 'k', value: '5' },
      { name: 'filter', value: 'kind:shirt' },
      { name: 'minScore', value: '-1' },
      { name: 'image', filename: 'q.png', contentType: 'image/png', data: green },
    ]);
    const response = await call(t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      headers: { 'content-type': form.contentType },
      body: form.body,
    });
    expect(response.statusCode).toBe(200);
    const ids = (json(response).results as Array<{ id: string }>).map((r) => r.id);
    expect(ids).toEqual(['green-shirt', 'red-shirt']);
  });

  test('filters: compact any-of, numbers typed as text, JSON object form', async () => {
    loadCatalogue(2);
    const search = async (filter: unknown) => {
      const response = await call(t, '/v1/similar', {
        method: 'POST',
        url: '/v1/similar',
        json: { imageBase64: red.toString('base64'), filter },
      });
      expect(response.statusCode).toBe(200);
      return (json(response).results as Array<{ id: string }>).map((r) => r.id).sort();
    };
    expect(await search('colour:red|blue')).toEqual(['blue-shoe', 'red-shirt']);
    expect(await search('year:2012,kind:shoe')).toEqual(['blue-shoe']);
    expect(await search({ year: 2013 })).toEqual(['green-shirt']);
    expect(await search({ colour: ['green', 'blue'] })).toEqual(['blue-shoe', 'green-shirt']);
    expect(await search('{"kind":"shirt"}')).toEqual(['green-shirt', 'red-shirt']);
  });

  test('GET /v1/items/{id}/similar uses the stored vector and leaves the item out', async () => {
    loadCatalogue(5);
    const response = await call(t, '/v1/items/{id}/similar', {
      method: 'GET',
      url: '/v1/items/red-shirt/similar?k=10&filter=kind:shirt',
    });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toMatchObject({ indexVersion: 5, results: [{ id: 'green-shirt' }] });
    expect(t.embedder.calls).toBe(0);

    const missing = await call(t, '/v1/items/{id}/similar', { method: 'GET', url: '/v1/items/nope/similar' });
    expect(missing.statusCode).toBe(404);
    expect(json(missing).code).toBe('ITEM_NOT_FOUND');
  });

  test('GET /v1/items/{id}: the stored item with its snapshot version, 404 otherwise', async () => {
    loadCatalogue(6);
    const response = await call(t, '/v1/items/{id}', { method: 'GET', url: '/v1/items/blue-shoe' });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      id: 'blue-shoe',
      metadata: { colour: 'blue', kind: 'shoe', year: 2012 },
      contentHash: 'b'.repeat(64),
      indexedAt: '2024-01-01T00:00:00.000Z',
      indexVersion: 6,
    });
    const missing = await call(t, '/v1/items/{id}', { method: 'GET', url: '/v1/items/unknown-item' });
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({ code: 'ITEM_NOT_FOUND', instance: '/v1/items/unknown-item' });
  });

  test('internal metadata (keys starting with _) is never shown and never taken from clients', async () => {
    const internal = { _source: 'url:http://10.1.2.3/private/red.png', _note: 'x' };
    t.snapshots.swap(
      new FakeSnapshot(8, [
        { id: 'red', vector: fakeVector(red), metadata: { colour: 'red', ...internal } },
        { id: 'green', vector: fakeVector(green), metadata: { colour: 'green', ...internal } },
      ]),
    );
    const item = await call(t, '/v1/items/{id}', { method: 'GET', url: '/v1/items/red' });
    expect(json(item).metadata).toEqual({ colour: 'red' });
    const byId = await call(t, '/v1/items/{id}/similar', { method: 'GET', url: '/v1/items/red/similar' });
    expect(json(byId).results).toEqual([
      {
        id: 'green',
        score: expect.any(Number),
        similarity: expect.any(Number),
        metadata: { colour: 'green' },
      },
    ]);
    const byImage = await call(t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: red.toString('base64') },
    });
    for (const hit of json(byImage).results as Array<{ metadata: object }>) {
      expect(Object.keys(hit.metadata)).toEqual(['colour']);
    }
    expect(byImage.body).not.toContain('_source');

    // Not a filter field either, and not listed among the known ones.
    const filtered = await call(t, '/v1/items/{id}/similar', {
      method: 'GET',
      url: '/v1/items/red/similar?filter=_source:x',
    });
    expect(filtered.statusCode).toBe(400);
    expect(json(filtered).code).toBe('INVALID_FILTER');
    const unknown = await call(t, '/v1/items/{id}/similar', {
      method: 'GET',
      url: '/v1/items/red/similar?filter=brand:x',
    });
    expect(json(unknown)).toMatchObject({
      code: 'UNKNOWN_FILTER_FIELD',
      detail: expect.stringMatching(/known fields: colour$/),
    });

    const refused = await call(t, '/v1/items', {
      method: 'POST',
      url: '/v1/items',
      json: {
        items: [{ id: 'a', imageUrl: 'https://e.com/a.jpg', metadata: { colour: 'red', _source: 'path:x' } }],
      },
    });
    expect(refused.statusCode).toBe(400);
    expect(json(refused)).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [
        {
          path: '/body/items/0/metadata/_source',
          message: expect.stringContaining('reserved for internal use'),
        },
      ],
    });
    expect(t.queue.jobs.size).toBe(0);
  });

  test('POST /v1/items queues one upsert job and points at it', async () => {
    const response = await call(t, '/v1/items', {
      method: 'POST',
      url: '/v1/items',
      json: {
        items: [
          { id: 'a', imageUrl: 'https://example.com/a.jpg', metadata: { colour: 'red', size: 42 } },
          { id: 'b', imageBase64: red.toString('base64') },
          { id: 'c', imagePath: 'shirts/c.jpg', metadata: {} },
        ],
      },
    });
    expect(response.statusCode).toBe(202);
    const { jobId } = json(response) as { jobId: string };
    expect(response.headers.location).toBe(`/v1/jobs/${jobId}`);
    expect(t.queue.jobs.get(jobId)?.job).toEqual({
      kind: 'upsert',
      items: [
        { id: 'a', imageUrl: 'https://example.com/a.jpg', metadata: { colour: 'red', size: 42 } },
        { id: 'b', imageBase64: red.toString('base64'), metadata: {} },
        { id: 'c', imagePath: 'shirts/c.jpg', metadata: {} },
      ],
    });

    const duplicate = await call(t, '/v1/items', {
      method: 'POST',
      url: '/v1/items',
      json: {
        items: [
          { id: 'x', imageUrl: 'https://e.com/1' },
          { id: 'x', imageUrl: 'https://e.com/2' },
        ],
      },
    });
    expect(duplicate.statusCode).toBe(400);
    expect(json(duplicate)).toMatchObject({ code: 'DUPLICATE_ID', errors: [{ path: '/body/items/1/id' }] });
  });

  test('DELETE /v1/items/{id} and POST /v1/reindex queue jobs; GET /v1/jobs/{jobId} reports them', async () => {
    const deleted = await call(t, '/v1/items/{id}', { method: 'DELETE', url: '/v1/items/red-shirt' });
    expect(deleted.statusCode).toBe(202);
    const reindex = await call(t, '/v1/reindex', { method: 'POST', url: '/v1/reindex' });
    expect(reindex.statusCode).toBe(202);
    const deleteJob = (json(deleted) as { jobId: string }).jobId;
    expect(t.queue.jobs.get(deleteJob)?.job).toEqual({ kind: 'delete', ids: ['red-shirt'] });

    const entry = t.queue.jobs.get(deleteJob);
    if (!entry) throw new Error('job missing');
    entry.view = {
      ...entry.view,
      state: 'completed',
      progress: 100,
      finishedAt: new Date().toISOString(),
      result: { indexed: [], unchanged: [], deleted: ['red-shirt'], notFound: [], failed: [], version: 9 },
    };
    const status = await call(t, '/v1/jobs/{jobId}', { method: 'GET', url: `/v1/jobs/${deleteJob}` });
    expect(status.statusCode).toBe(200);
    expect(json(status)).toMatchObject({ id: deleteJob, kind: 'delete', state: 'completed', progress: 100 });
    expect((json(status).result as { deleted: string[] }).deleted).toEqual(['red-shirt']);

    const missing = await call(t, '/v1/jobs/{jobId}', { method: 'GET', url: '/v1/jobs/12345678' });
    expect(missing.statusCode).toBe(404);
    expect(json(missing).code).toBe('JOB_NOT_FOUND');
  });

  test('Redis down: writes and job reads get 503 QUEUE_UNAVAILABLE with Retry-After', async () => {
    t.queue.down = 'refuse';
    const write = await call(t, '/v1/reindex', { method: 'POST', url: '/v1/reindex' });
    expect(write.statusCode).toBe(503);
    expect(json(write).code).toBe('QUEUE_UNAVAILABLE');
    expect(write.headers['retry-after']).toBe('5');
    const read = await call(t, '/v1/jobs/{jobId}', { method: 'GET', url: '/v1/jobs/1' });
    expect(read.statusCode).toBe(503);
  });

  test('unknown routes and methods are problem+json 404s', async () => {
    const response = await t.request('/v2/nothing');
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(response)).toMatchObject({ code: 'ROUTE_NOT_FOUND', status: 404, title: 'Not Found' });
  });

  test('a sane X-Request-Id is kept and echoed; a weird one is replaced', async () => {
    const kept = await t.request('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers['x-request-id']).toBe('abc-123');
    const replaced = await t.request('/v1/index', { headers: { 'x-request-id': 'bad id!' } });
    expect(replaced.headers['x-request-id']).not.toBe('bad id!');
    expect(json(replaced).requestId).toBe(replaced.headers['x-request-id']);
  });

  test('catalogue browsing: GET /v1/items, /v1/index/fields, /v1/items/{id}/image (details: catalogue.test.ts)', async () => {
    loadCatalogue(3);
    const page = await call(t, '/v1/items', { method: 'GET', url: '/v1/items?limit=2&filter=kind:shirt' });
    expect(json(page)).toMatchObject({
      indexVersion: 3,
      total: 2,
      items: [{ id: 'red-shirt' }, { id: 'green-shirt' }],
    });
    const fields = await call(t, '/v1/index/fields', { method: 'GET', url: '/v1/index/fields' });
    expect(json(fields)).toMatchObject({ indexVersion: 3, count: 3 });
    const image = await call(t, '/v1/items/{id}/image', { method: 'GET', url: '/v1/items/nope/image' });
    expect(json(image)).toMatchObject({ code: 'ITEM_NOT_FOUND' });
  });

  test('GET /docs serves the interactive documentation and the same document', async () => {
    const page = await t.request('/docs/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const served = await t.request('/docs/json');
    expect(served.json()).toEqual(contract.document);
  });

  // Last in this file: the contract coverage of everything above (and of nothing else).
  test('contract: every documented operation was called and its responses validated', () => {
    const exercised = new Set([...contract.seen].map((entry) => entry.split(' ').slice(0, 2).join(' ')));
    const missing = contract
      .operations()
      .map((op) => `${op.method} ${op.path}`)
      .filter((op) => !exercised.has(op));
    expect(missing).toEqual([]);
    expect(contract.seen.size).toBeGreaterThanOrEqual(15);
  });
});
