/**
 * @lookalike/client against the API as deployed: `services/api/dist/server.js` and a real indexer as
 * processes on the shared Redis (own prefix), every call made through the generated, typed client —
 * catalogue upsert with the API key, job status, by-id search, upload search through the multipart
 * helper, the JSON image search, item lookup — and problem+json answers surfaced as typed errors.
 * Every response the client receives is also checked against openapi/openapi.json (through the
 * client's `fetch` option), so the types the client was generated from and the wire agree.
 *
 * Crop to search, end to end: the query is one image of two very different generated patterns side
 * by side; the catalogue holds each pattern on its own. A crop of either half must find that half's
 * item first, at a similarity of ~1 (the crop embeds exactly like the region saved on its own).
 */
import sharp from 'sharp';
import {
  LookalikeApiError,
  createLookalikeClient,
  unwrap,
  type LookalikeClient,
  type SimilarResponse,
} from '@lookalike/client';
import { ContractChecker } from '../services/api/test/contract';
import { sceneJpeg } from '../services/api/test/fixtures';
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

jest.setTimeout(240_000);

const API_KEY = 'typed-client-test-key-0123456789';
const SIDE = 320;

/** Diagonal blue/yellow stripes. */
const stripesSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIDE}" height="${SIDE}">
  <defs><pattern id="p" width="40" height="40" patternUnits="userSpaceOnUse" patternTransform="rotate(35)">
    <rect width="20" height="40" fill="#1040c0"/><rect x="20" width="20" height="40" fill="#f0d020"/></pattern></defs>
  <rect width="${SIDE}" height="${SIDE}" fill="url(#p)"/></svg>`;
/** Green glowing dots on black. */
const dotsSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIDE}" height="${SIDE}">
  <defs><radialGradient id="r"><stop offset="0" stop-color="#60ff60"/><stop offset="1" stop-color="#004000"/></radialGradient>
  <pattern id="d" width="64" height="64" patternUnits="userSpaceOnUse"><circle cx="32" cy="32" r="24" fill="url(#r)"/></pattern></defs>
  <rect width="${SIDE}" height="${SIDE}" fill="#101010"/><rect width="${SIDE}" height="${SIDE}" fill="url(#d)"/></svg>`;

const ids = (answer: SimilarResponse) => answer.results.map((hit) => hit.id);

describe('@lookalike/client against the API and indexer processes', () => {
  const prefix = uniquePrefix('typed-client');
  const data = tempDir('typed-client');
  const contract = new ContractChecker();
  let indexer: ServiceProcess;
  let api: RunningApi;
  let client: LookalikeClient;
  let anonymous: LookalikeClient;
  let stripes: Buffer;
  let dots: Buffer;
  /** Stripes on the left half, dots on the right: lossless, so each half is pixel-equal to its item. */
  let sideBySide: Buffer;
  let version = 0;

  /** globalThis.fetch, and every answer validated against the document (a mismatch fails the test). */
  const checkedFetch = async (request: Request): Promise<Response> => {
    const response = await fetch(request);
    const url = new URL(request.url);
    contract.check(request.method, contract.templateOf(request.method, url.pathname), {
      statusCode: response.status,
      headers: Object.fromEntries(response.headers.entries()),
      body: await response.clone().text(),
    });
    return response;
  };

  beforeAll(async () => {
    // Opaque: composited onto the canvas, an image with alpha (an SVG render) changes by a level
    // here and there, which the int8 model notices (cosine ~0.996 instead of 1).
    const opaque = (svg: string) =>
      sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer();
    stripes = await opaque(stripesSvg);
    dots = await opaque(dotsSvg);
    sideBySide = await sharp({ create: { width: 2 * SIDE, height: SIDE, channels: 3, background: '#fff' } })
      .composite([
        { input: stripes, left: 0, top: 0 },
        { input: dots, left: SIDE, top: 0 },
      ])
      .png()
      .toBuffer();
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
          extra: { API_KEY, RATE_LIMIT_MAX: '0' },
        }),
      ),
    ]);
    client = createLookalikeClient({ baseUrl: api.url, apiKey: API_KEY, fetch: checkedFetch });
    anonymous = createLookalikeClient({ baseUrl: `${api.url}/`, fetch: checkedFetch });
  });

  afterAll(async () => {
    await api?.process.stop();
    await indexer?.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  test('POST /v1/items: 401 UNAUTHORIZED as a typed problem without the key; with it the job completes and is served', async () => {
    const scenes = await Promise.all([sceneJpeg(5), sceneJpeg(50), sceneJpeg(95)]);
    const items = [
      {
        id: 'stripes',
        imageBase64: stripes.toString('base64'),
        metadata: { pattern: 'stripes', group: 'a' },
      },
      { id: 'dots', imageBase64: dots.toString('base64'), metadata: { pattern: 'dots', group: 'a' } },
      ...scenes.map((scene, i) => ({
        id: `scene-${i}`,
        imageBase64: scene.toString('base64'),
        metadata: { pattern: 'scene', group: 'b', seed: i },
      })),
    ];

    const refused = await anonymous.POST('/v1/items', { body: { items } });
    expect(refused.response.status).toBe(401);
    expect(refused.data).toBeUndefined();
    expect(refused.error).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });

    const accepted = unwrap(await client.POST('/v1/items', { body: { items } }));
    expect(accepted.jobId).toEqual(expect.any(String));
    const job = await pollUntil(
      async () => {
        const status = unwrap(
          await client.GET('/v1/jobs/{jobId}', { params: { path: { jobId: accepted.jobId } } }),
        );
        if (status.state === 'failed') throw new Error(`job failed: ${status.failedReason}`);
        return status.state === 'completed' ? status : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, description: 'the upsert job to complete' },
    );
    expect(job.result?.counts.indexed).toBe(items.length);
    version = job.result?.version ?? 0;
    expect(version).toBeGreaterThan(0);
    await pollUntil(
      async () => {
        const { data } = await anonymous.GET('/v1/index');
        return data && data.version >= version ? data : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, description: `the API to serve snapshot ${version}` },
    );
  });

  test('GET /v1/items/{id}: the stored item, typed', async () => {
    const item = unwrap(await anonymous.GET('/v1/items/{id}', { params: { path: { id: 'stripes' } } }));
    expect(item.id).toBe('stripes');
    expect(item.metadata).toEqual({ pattern: 'stripes', group: 'a' });
    expect(item.indexVersion).toBeGreaterThanOrEqual(version);
  });

  test('GET /v1/items/{id}/similar: by id with k and a filter, the item itself left out', async () => {
    const answer = unwrap(
      await anonymous.GET('/v1/items/{id}/similar', {
        params: { path: { id: 'scene-0' }, query: { k: 10, filter: 'group:b' } },
      }),
    );
    expect(answer.indexVersion).toBeGreaterThanOrEqual(version);
    expect(ids(answer).sort()).toEqual(['scene-1', 'scene-2']);
    const scores = answer.results.map((hit) => hit.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  test('POST /v1/recommend: typed body (RecommendRequest) and answer, the examples left out', async () => {
    const byId = unwrap(
      await anonymous.GET('/v1/items/{id}/similar', { params: { path: { id: 'scene-0' }, query: { k: 3 } } }),
    );
    const single = unwrap(
      await anonymous.POST('/v1/recommend', { body: { positive: [{ id: 'scene-0' }], k: 3 } }),
    );
    // The same answer but for its own queryId (every result list gets a fresh one).
    expect({ ...single, queryId: byId.queryId }).toEqual(byId);
    expect(single.queryId).not.toBe(byId.queryId);
    const answer = unwrap(
      await anonymous.POST('/v1/recommend', {
        body: { positive: [{ id: 'scene-0' }], negative: [{ id: 'scene-1' }], negativeWeight: 0.5, k: 10 },
      }),
    );
    expect(ids(answer)).not.toContain('scene-0');
    expect(ids(answer)).not.toContain('scene-1');
    const { error, response } = await anonymous.POST('/v1/recommend', {
      body: { positive: [{ id: 'no-such' }] },
    });
    expect(response.status).toBe(404);
    expect(error?.code).toBe('EXAMPLE_NOT_FOUND');
  });

  test('searchByUpload: the multipart helper finds the uploaded item first, with k and filter fields', async () => {
    const { data, error, response } = await anonymous.searchByUpload(dots, { k: 3, filter: 'group:a' });
    expect(error).toBeUndefined();
    expect(response.status).toBe(200);
    expect(data?.results[0]).toMatchObject({ id: 'dots', metadata: { pattern: 'dots' } });
    expect(data?.results[0]?.similarity).toBeGreaterThan(0.999);
    expect(ids(data as SimilarResponse)).toEqual(['dots', 'stripes']);
  });

  test('crop to search: each half of a two-pattern image finds that pattern first, by upload and by JSON', async () => {
    const left = { x: 0, y: 0, w: 0.5, h: 1 };
    const right = { x: 0.5, y: 0, w: 0.5, h: 1 };
    const leftAnswer = unwrap(await anonymous.searchByUpload(sideBySide, { crop: left, k: 5 }));
    const rightAnswer = unwrap(await anonymous.searchByUpload(sideBySide, { crop: '0.5,0,0.5,1', k: 5 }));
    const whole = unwrap(await anonymous.searchByUpload(sideBySide, { k: 5 }));
    const json = unwrap(
      await anonymous.POST('/v1/similar', {
        body: { imageBase64: sideBySide.toString('base64'), crop: right, k: 5 },
      }),
    );

    expect(leftAnswer.results[0]?.id).toBe('stripes');
    expect(rightAnswer.results[0]?.id).toBe('dots');
    expect(json.results[0]?.id).toBe('dots');
    // Each half is pixel-equal to its item, and a crop embeds like that region on its own: ~identical.
    expect(leftAnswer.results[0]?.similarity).toBeGreaterThan(0.999);
    expect(rightAnswer.results[0]?.similarity).toBeGreaterThan(0.999);
    expect(json.results[0]?.similarity).toBeCloseTo(rightAnswer.results[0]?.similarity ?? 0, 5);
    // The whole image is neither pattern: its best match is clearly less similar than a crop's (with
    // the default model it is dots at 0.74, stripes 0.72: without a crop the left pattern is not first).
    const bestWhole = whole.results[0]?.similarity ?? 1;
    expect(bestWhole).toBeLessThan(0.98);
  });

  test('problem+json answers come back as typed errors with stable codes, and unwrap throws them', async () => {
    const missing = await anonymous.GET('/v1/items/{id}', { params: { path: { id: 'no-such-item' } } });
    expect(missing.data).toBeUndefined();
    expect(missing.error).toMatchObject({ status: 404, code: 'ITEM_NOT_FOUND' });
    expect(missing.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    let thrown: unknown;
    try {
      unwrap(missing);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(LookalikeApiError);
    expect(thrown).toMatchObject({
      status: 404,
      code: 'ITEM_NOT_FOUND',
      problem: { code: 'ITEM_NOT_FOUND' },
    });

    // A crop past the right edge is refused before inference, naming the field.
    const outside = await anonymous.searchByUpload(sideBySide, { crop: { x: 0.6, y: 0, w: 0.5, h: 1 } });
    expect(outside.error).toMatchObject({ status: 400, code: 'INVALID_CROP' });
    expect(outside.error?.errors?.[0]?.path).toBe('/body/crop');
    // One under 8×8 pixels once the size is known: 0.01 × 320 = 3.2 → 3 px high.
    const tiny = await anonymous.POST('/v1/similar', {
      body: { imageBase64: sideBySide.toString('base64'), crop: { x: 0, y: 0, w: 0.5, h: 0.01 } },
    });
    expect(tiny.error).toMatchObject({ status: 400, code: 'INVALID_CROP' });
    // A bad shape is the schema's: the form field is x,y,w,h, not JSON.
    const badShape = await anonymous.searchByUpload(sideBySide, { crop: '{"x":0}' });
    expect(badShape.error).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });
});
