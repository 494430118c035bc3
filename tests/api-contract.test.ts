/**
 * Contract test: every operation of openapi/openapi.json is called on the API running as a process
 * on a real port (real indexer, real Redis), and every response — successes and errors alike — is
 * validated against the document: documented status, media type, body schema (ajv) and documented
 * headers. The list of operations comes from the document itself, so a route added to it without a
 * call here fails the last test, as does an operation that was never answered both with success and
 * (where it documents any) with an error.
 *
 * The API runs with API_KEY and API_KEY_READS=true, so each protected operation also shows its 401.
 */
import { multipartBody, pixelBombPng, sceneJpeg } from '../services/api/test/fixtures';
import {
  apiEnv,
  deleteQueueKeys,
  indexerEnv,
  killAllProcesses,
  pollUntil,
  sharedRedisUrl,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';
import { ContractClient, type ApiReply, type JobBody, type ProblemBody } from './support/api-client';

jest.setTimeout(240_000);

const API_KEY = 'contract-test-key-0123456789';
const bearer = { authorization: `Bearer ${API_KEY}` };
const MAX_UPLOAD_BYTES = 256 * 1024;

describe('OpenAPI contract against the running API', () => {
  const prefix = uniquePrefix('api-contract');
  const data = tempDir('api-contract');
  let indexer: ServiceProcess;
  let api: RunningApi;
  let client: ContractClient;
  let images: Buffer[] = [];

  /** A call whose status must be `status` (the body was already validated against the document). */
  async function expectStatus(
    status: number,
    path: string,
    request: Parameters<ContractClient['call']>[1] = {},
  ): Promise<ApiReply> {
    const reply = await client.call(path, request);
    if (reply.status !== status) {
      throw new Error(
        `${request.method ?? 'GET'} ${path}: expected ${status}, got ${reply.status} ${reply.body.slice(0, 300)}`,
      );
    }
    return reply;
  }
  const withKey = (request: Parameters<ContractClient['call']>[1] = {}) => ({
    ...request,
    headers: { ...request.headers, ...bearer },
  });
  const problemCode = (reply: ApiReply) => reply.json<ProblemBody>().code;

  async function finishedJob(jobId: string): Promise<JobBody> {
    return pollUntil(
      async () => {
        const job = (await expectStatus(200, `/v1/jobs/${jobId}`, withKey())).json<JobBody>();
        if (job.state === 'failed') throw new Error(`job ${jobId} failed: ${job.failedReason}`);
        return job.state === 'completed' ? job : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, description: `job ${jobId} to complete` },
    );
  }

  beforeAll(async () => {
    images = await Promise.all([sceneJpeg(5), sceneJpeg(50), sceneJpeg(95)]);
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
          extra: {
            API_KEY,
            API_KEY_READS: 'true',
            RATE_LIMIT_MAX: '0',
            RELOAD_POLL_MS: '100',
            MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
            MAX_BODY_BYTES: String(2 * MAX_UPLOAD_BYTES),
            MAX_IMAGE_PIXELS: '4000000',
            INFERENCE_CONCURRENCY: '1',
            INFERENCE_QUEUE: '0',
          },
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

  test('before any snapshot: health, readiness, metrics, and 503 NO_SNAPSHOT from the reads', async () => {
    await expectStatus(200, '/healthz');
    expect((await expectStatus(503, '/readyz')).headers['retry-after']).toBeDefined();
    await expectStatus(200, '/metrics');
    // Headers larger than Node takes: 431 HEADERS_TOO_LARGE, documented on every operation.
    for (const path of ['/healthz', '/metrics']) {
      const reply = await expectStatus(431, path, { headers: { 'x-padding': 'p'.repeat(20_000) } });
      expect(problemCode(reply)).toBe('HEADERS_TOO_LARGE');
    }
    for (const path of [
      '/v1/index',
      '/v1/index/fields',
      '/v1/items',
      '/v1/items/c-1',
      '/v1/items/c-1/similar',
    ]) {
      expect([path, problemCode(await expectStatus(503, path, withKey()))]).toEqual([path, 'NO_SNAPSHOT']);
    }
    const search = await expectStatus(
      503,
      '/v1/similar',
      withKey({ method: 'POST', json: { imageBase64: (images[0] as Buffer).toString('base64') } }),
    );
    expect(problemCode(search)).toBe('NO_SNAPSHOT');
    const recommend = await expectStatus(
      503,
      '/v1/recommend',
      withKey({ method: 'POST', json: { positive: [{ id: 'c-1' }] } }),
    );
    expect(problemCode(recommend)).toBe('NO_SNAPSHOT');
  });

  test('every protected operation answers 401 without the key', async () => {
    const protectedCalls: Array<[string, Parameters<ContractClient['call']>[1]]> = [
      ['/v1/index', {}],
      ['/v1/index/fields', {}],
      ['/v1/items', {}],
      ['/v1/items', { method: 'POST', json: { items: [{ id: 'x', imageUrl: 'https://e.com/x.jpg' }] } }],
      ['/v1/items/c-1', {}],
      ['/v1/items/c-1', { method: 'DELETE' }],
      ['/v1/items/c-1/similar', {}],
      ['/v1/items/c-1/image', {}],
      ['/v1/similar', { method: 'POST', json: { imageUrl: 'https://e.com/x.jpg' } }],
      ['/v1/recommend', { method: 'POST', json: { positive: [{ id: 'c-1' }] } }],
      ['/v1/reindex', { method: 'POST' }],
      ['/v1/jobs/1', {}],
    ];
    for (const [path, request] of protectedCalls) {
      const reply = await expectStatus(401, path, request);
      expect(reply.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });

  test('POST /v1/items and GET /v1/jobs/{jobId}: errors, then 202 and the job to completion', async () => {
    const items = images.map((image, i) => ({
      id: `c-${i + 1}`,
      imageBase64: image.toString('base64'),
      metadata: { tone: i === 0 ? 'light' : 'dark', rank: i + 1 },
    }));
    const post = (request: Parameters<ContractClient['call']>[1]) => withKey({ method: 'POST', ...request });
    await expectStatus(400, '/v1/items', post({ json: { items: [] } }));
    await expectStatus(
      400,
      '/v1/items',
      post({ json: { items: [{ id: 'a b', imageUrl: 'https://e.com/a.jpg' }] } }),
    );
    await expectStatus(415, '/v1/items', post({ body: 'id,url', headers: { 'content-type': 'text/csv' } }));
    const huge = { items: [{ id: 'big', imageBase64: 'A'.repeat(3 * MAX_UPLOAD_BYTES) }] };
    expect(problemCode(await expectStatus(413, '/v1/items', post({ json: huge })))).toBe('BODY_TOO_LARGE');

    const accepted = await expectStatus(202, '/v1/items', post({ json: { items } }));
    const { jobId } = accepted.json<{ jobId: string }>();
    await expectStatus(400, '/v1/jobs/not%20an%20id', withKey());
    expect(problemCode(await expectStatus(404, '/v1/jobs/no-such-job', withKey()))).toBe('JOB_NOT_FOUND');
    const job = await finishedJob(jobId);
    expect(job.result?.indexed.sort()).toEqual(['c-1', 'c-2', 'c-3']);
  });

  test('reads of the live snapshot: successes and their documented errors', async () => {
    await pollUntil(async () => (await client.call('/readyz')).status === 200, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: '/readyz to say ready',
    });
    await expectStatus(200, '/v1/index', withKey());
    await expectStatus(200, '/v1/index/fields', withKey());

    await expectStatus(200, '/v1/items?limit=2', withKey());
    await expectStatus(200, '/v1/items?filter=tone:dark', withKey());
    await expectStatus(400, '/v1/items?limit=0', withKey());
    expect(problemCode(await expectStatus(400, '/v1/items?filter=colour:red', withKey()))).toBe(
      'UNKNOWN_FILTER_FIELD',
    );

    await expectStatus(200, '/v1/items/c-2', withKey());
    await expectStatus(404, '/v1/items/nope', withKey());
    await expectStatus(400, `/v1/items/${'x'.repeat(129)}`, withKey());

    await expectStatus(200, '/v1/items/c-1/similar?k=2&filter=tone:dark&minScore=-1', withKey());
    await expectStatus(404, '/v1/items/nope/similar', withKey());
    await expectStatus(400, '/v1/items/c-1/similar?k=0', withKey());
    expect(problemCode(await expectStatus(400, '/v1/items/c-1/similar?filter=tone', withKey()))).toBe(
      'INVALID_FILTER',
    );

    const image = await expectStatus(200, '/v1/items/c-1/image', withKey());
    expect(image.headers['content-type']).toBe('image/webp');
    const etag = image.headers.etag as string;
    await expectStatus(304, '/v1/items/c-1/image', withKey({ headers: { 'if-none-match': etag } }));
    await expectStatus(404, '/v1/items/nope/image', withKey());
    await expectStatus(400, '/v1/items/a%20b/image', withKey());
  });

  test('POST /v1/similar: upload and JSON successes, and each documented client error', async () => {
    const search = (json: unknown) => withKey({ method: 'POST', json });
    const upload = (data: Buffer, contentType = 'image/jpeg') => {
      const form = multipartBody([
        { name: 'k', value: '3' },
        { name: 'image', filename: 'q', contentType, data },
      ]);
      return withKey({ method: 'POST', body: form.body, headers: { 'content-type': form.contentType } });
    };
    const good = images[0] as Buffer;

    await expectStatus(200, '/v1/similar', upload(good));
    await expectStatus(
      200,
      '/v1/similar',
      search({ imageBase64: good.toString('base64'), k: 2, filter: { tone: 'light' } }),
    );
    const errors: Array<[number, string, Parameters<ContractClient['call']>[1]]> = [
      [400, 'VALIDATION_FAILED', search({ imageBase64: good.toString('base64'), k: 1000 })],
      [400, 'SOURCE_BLOCKED_ADDRESS', search({ imageUrl: 'http://169.254.169.254/latest/meta-data/' })],
      [400, 'SOURCE_BAD_BASE64', search({ imageBase64: '***' })],
      [413, 'IMAGE_TOO_LARGE', upload(Buffer.concat([good, Buffer.alloc(MAX_UPLOAD_BYTES)]))],
      [413, 'IMAGE_TOO_MANY_PIXELS', upload(pixelBombPng(30_000, 30_000), 'image/png')],
      [415, 'IMAGE_UNSUPPORTED', upload(Buffer.from('just text, not an image '.repeat(10)), 'text/plain')],
      [
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        withKey({ method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }),
      ],
      [422, 'IMAGE_CORRUPT', upload(good.subarray(0, good.length >> 1))],
    ];
    const outcomes: string[] = [];
    for (const [, , request] of errors) {
      const reply = await client.call('/v1/similar', request);
      outcomes.push(`${reply.status} ${reply.status >= 400 ? problemCode(reply) : reply.body.slice(0, 100)}`);
    }
    expect(outcomes).toEqual(errors.map(([status, code]) => `${status} ${code}`));
  });

  test('POST /v1/recommend: by ids and by image, and each documented client error', async () => {
    const recommend = (json: unknown) => withKey({ method: 'POST', json });
    const good = images[0] as Buffer;
    const byId = await expectStatus(200, '/v1/items/c-1/similar?k=2', withKey());
    const single = await expectStatus(200, '/v1/recommend', recommend({ positive: [{ id: 'c-1' }], k: 2 }));
    // The same answer but for its own queryId (every result list gets a fresh one).
    expect({ ...single.json(), queryId: byId.json().queryId }).toEqual(byId.json());
    const both = await expectStatus(
      200,
      '/v1/recommend',
      recommend({ positive: [{ id: 'c-1' }], negative: [{ id: 'c-2' }], k: 5, filter: { tone: 'dark' } }),
    );
    expect(both.json<{ results: Array<{ id: string }> }>().results.map((h) => h.id)).toEqual(['c-3']);
    await expectStatus(
      200,
      '/v1/recommend',
      recommend({ positive: [{ imageBase64: good.toString('base64') }], negative: [{ id: 'c-3' }] }),
    );
    const errors: Array<[number, string, Parameters<ContractClient['call']>[1]]> = [
      [400, 'VALIDATION_FAILED', recommend({ positive: [] })],
      [
        400,
        'DEGENERATE_QUERY',
        recommend({ positive: [{ id: 'c-1' }], negative: [{ id: 'c-1' }], negativeWeight: 1 }),
      ],
      [
        400,
        'SOURCE_BLOCKED_ADDRESS',
        recommend({ positive: [{ imageUrl: 'http://169.254.169.254/x.jpg' }] }),
      ],
      [404, 'EXAMPLE_NOT_FOUND', recommend({ positive: [{ id: 'c-1' }], negative: [{ id: 'nope' }] })],
      [413, 'BODY_TOO_LARGE', recommend({ positive: [{ imageBase64: 'A'.repeat(2 * MAX_UPLOAD_BYTES) }] })],
      [
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        withKey({ method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }),
      ],
      [
        422,
        'IMAGE_CORRUPT',
        recommend({ positive: [{ imageBase64: good.subarray(0, good.length >> 1).toString('base64') }] }),
      ],
    ];
    const outcomes: string[] = [];
    for (const [, , request] of errors) {
      const reply = await client.call('/v1/recommend', request);
      outcomes.push(`${reply.status} ${reply.status >= 400 ? problemCode(reply) : reply.body.slice(0, 100)}`);
    }
    expect(outcomes).toEqual(errors.map(([status, code]) => `${status} ${code}`));
  });

  test('inference overload: 503 INFERENCE_BUSY with Retry-After while the one slot is taken, then service resumes', async () => {
    const good = images[1] as Buffer;
    const upload = () =>
      client.call('/v1/similar', withKey({ method: 'POST', json: { imageBase64: good.toString('base64') } }));
    // INFERENCE_CONCURRENCY=1, INFERENCE_QUEUE=0: of a burst of fully sent uploads (a place is taken
    // only once the image is all here), the one being embedded holds the only place and the others
    // are refused. A burst that happens to be served one by one is tried again.
    let burst: ApiReply[] = [];
    for (let attempt = 0; attempt < 5 && !burst.some((reply) => reply.status === 503); attempt += 1) {
      const byId = expectStatus(200, '/v1/items/c-1/similar', withKey());
      burst = await Promise.all(Array.from({ length: 12 }, upload));
      // Searches by id need no inference: unaffected.
      await byId;
    }
    const busy = burst.find((reply) => reply.status === 503);
    expect(busy).toBeDefined();
    expect(problemCode(busy as ApiReply)).toBe('INFERENCE_BUSY');
    expect((busy as ApiReply).headers['retry-after']).toBe('1');
    expect(burst.some((reply) => reply.status === 200)).toBe(true);
    expect(burst.filter((reply) => reply.status !== 200 && reply.status !== 503)).toEqual([]);

    await expectStatus(
      200,
      '/v1/similar',
      withKey({ method: 'POST', json: { imageBase64: good.toString('base64') } }),
    );
  });

  test('catalogue writes: DELETE /v1/items/{id} and POST /v1/reindex, with their errors', async () => {
    await expectStatus(400, `/v1/items/${'y'.repeat(200)}`, withKey({ method: 'DELETE' }));
    const deleted = await expectStatus(202, '/v1/items/c-3', withKey({ method: 'DELETE' }));
    expect((await finishedJob(deleted.json<{ jobId: string }>().jobId)).result?.deleted).toEqual(['c-3']);

    await expectStatus(
      415,
      '/v1/reindex',
      withKey({ method: 'POST', body: 'now', headers: { 'content-type': 'text/plain' } }),
    );
    const reindex = await expectStatus(202, '/v1/reindex', withKey({ method: 'POST' }));
    expect((await finishedJob(reindex.json<{ jobId: string }>().jobId)).kind).toBe('reindex');
  });

  test('shopper events: POST /v1/events with its errors, naming a queryId the API issued', async () => {
    const similar = await expectStatus(200, '/v1/items/c-1/similar', withKey());
    const { queryId } = similar.json<{ queryId: string }>();
    const event = (eventId: string, overrides: Record<string, unknown> = {}) => ({
      eventId,
      type: 'click',
      itemId: 'c-2',
      context: { queryId },
      position: 0,
      timestamp: new Date().toISOString(),
      sessionId: 's_contract_01',
      ...overrides,
    });
    const json = { events: [event('ct-1'), event('ct-2', { timestamp: '2001-01-01T00:00:00Z' })] };
    expect(problemCode(await expectStatus(401, '/v1/events', { method: 'POST', json }))).toBe('UNAUTHORIZED');
    const accepted = await expectStatus(202, '/v1/events', withKey({ method: 'POST', json }));
    expect(accepted.json()).toMatchObject({
      accepted: 1,
      rejected: 1,
      rejections: [{ code: 'TIMESTAMP_TOO_OLD' }],
    });
    const bad = await expectStatus(
      400,
      '/v1/events',
      withKey({ method: 'POST', json: { events: [event('ct-3', { type: 'stare' })] } }),
    );
    expect(problemCode(bad)).toBe('EVENTS_REJECTED');
    await expectStatus(
      415,
      '/v1/events',
      withKey({ method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }),
    );
  });

  // Last: derived from the document, so a documented route nobody calls fails here.
  test('every documented operation was exercised: a success and, where documented, an error', () => {
    const gaps: string[] = [];
    const document = client.contract.document;
    for (const [operation, statuses] of client.contract.coverage()) {
      const [method, path] = operation.split(' ') as [string, string];
      const documented = Object.keys(document.paths[path]?.[method.toLowerCase()]?.responses ?? {});
      const documentsErrors = documented.some((status) => status !== 'default' && Number(status) >= 400);
      if (!statuses.some((status) => status < 400)) gaps.push(`${operation}: no successful response`);
      if (documentsErrors && !statuses.some((status) => status >= 400))
        gaps.push(`${operation}: no error response`);
    }
    expect(gaps).toEqual([]);
    expect(client.contract.seen.size).toBeGreaterThanOrEqual(40);
  });
});
