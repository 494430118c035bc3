/** Back-pressure, deadlines, rate limiting, CORS and Redis outages, over real HTTP with fakes. */
import { loadConfig } from '../src/config';
import { describeWindow } from '../src/plugins/rate-limit';
import {
  ContractChecker,
  FAKE_MODEL,
  FakeSnapshot,
  buildTestApp,
  fakeVector,
  multipartBody,
  solidPng,
  type TestApp,
} from './helpers';

const contract = new ContractChecker();

async function catalogueApp(env: Record<string, string> = {}): Promise<{ t: TestApp; image: Buffer }> {
  const t = await buildTestApp(env);
  const image = await solidPng([10, 120, 200]);
  t.snapshots.swap(new FakeSnapshot(1, [{ id: 'a', vector: fakeVector(image), metadata: { kind: 'x' } }]));
  return { t, image };
}

describe('limits', () => {
  test('inference concurrency + queue: the overflow gets 503 INFERENCE_BUSY with Retry-After, then service resumes', async () => {
    const { t, image } = await catalogueApp({ INFERENCE_CONCURRENCY: '1', INFERENCE_QUEUE: '1' });
    try {
      let release: () => void = () => {};
      t.embedder.hold = new Promise<void>((resolve) => (release = resolve));
      const search = () =>
        t.request('/v1/similar', { method: 'POST', json: { imageBase64: image.toString('base64') } });
      const first = search();
      const second = search();
      // Wait until both are admitted (one running, one queued), then overflow.
      for (let i = 0; i < 100 && t.embedder.calls < 1; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      const third = await search();
      contract.check('POST', '/v1/similar', third);
      expect(third.statusCode).toBe(503);
      expect(third.json()).toMatchObject({ code: 'INFERENCE_BUSY', retryAfter: 1 });
      expect(third.headers['retry-after']).toBe('1');
      release();
      expect((await first).statusCode).toBe(200);
      expect((await second).statusCode).toBe(200);
      t.embedder.hold = null;
      expect((await search()).statusCode).toBe(200);
      const metrics = (await t.request('/metrics')).body;
      expect(metrics).toContain('lookalike_inference_rejected_total 1');
    } finally {
      await t.app.close();
    }
  });

  test('a request past REQUEST_TIMEOUT_MS gets 503 REQUEST_TIMEOUT and the server carries on', async () => {
    const { t, image } = await catalogueApp({ REQUEST_TIMEOUT_MS: '300' });
    try {
      t.embedder.hold = new Promise(() => {}); // never finishes
      const slow = await t.request('/v1/similar', {
        method: 'POST',
        json: { imageBase64: image.toString('base64') },
      });
      contract.check('POST', '/v1/similar', slow);
      expect(slow.statusCode).toBe(503);
      expect(slow.json()).toMatchObject({ code: 'REQUEST_TIMEOUT' });
      expect((await t.request('/healthz')).statusCode).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  test('k above MAX_K is 400 K_TOO_LARGE; k above 100 is a validation error', async () => {
    const { t } = await catalogueApp({ MAX_K: '5' });
    try {
      const tooMany = await t.request('/v1/items/a/similar?k=6');
      contract.check('GET', '/v1/items/{id}/similar', tooMany);
      expect(tooMany.json()).toMatchObject({ code: 'K_TOO_LARGE', errors: [{ path: '/query/k' }] });
      const overCeiling = await t.request('/v1/items/a/similar?k=101');
      expect(overCeiling.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/query/k' }] });
      expect((await t.request('/v1/items/a/similar?k=5')).statusCode).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  test('k above MAX_K is 400 K_TOO_LARGE on every route that takes k: by item, JSON image query, upload', async () => {
    const { t, image } = await catalogueApp({ MAX_K: '5' });
    try {
      const json = (k: number) =>
        t.request('/v1/similar', { method: 'POST', json: { imageBase64: image.toString('base64'), k } });
      const upload = (k: number) => {
        const form = multipartBody([
          { name: 'k', value: String(k) },
          { name: 'image', filename: 'query.png', contentType: 'image/png', data: image },
        ]);
        return t.request('/v1/similar', {
          method: 'POST',
          body: form.body,
          headers: { 'content-type': form.contentType },
        });
      };
      const cases = [
        {
          route: 'GET /v1/items/{id}/similar',
          path: '/query/k',
          send: (k: number) => t.request(`/v1/items/a/similar?k=${k}`),
        },
        { route: 'POST /v1/similar', path: '/body/k', send: json },
        { route: 'POST /v1/similar', path: '/body/k', send: upload },
      ];
      for (const { route, path, send } of cases) {
        const [method, template] = route.split(' ') as [string, string];
        const tooMany = await send(6);
        contract.check(method, template, tooMany);
        expect([route, tooMany.statusCode, tooMany.json()]).toEqual([
          route,
          400,
          expect.objectContaining({ code: 'K_TOO_LARGE', errors: [expect.objectContaining({ path })] }),
        ]);
        const allowed = await send(5);
        contract.check(method, template, allowed);
        expect([route, allowed.statusCode]).toEqual([route, 200]);
      }
      // Refused before any inference: only the two allowed image queries were embedded.
      expect(t.embedder.calls).toBe(2);
    } finally {
      await t.app.close();
    }
  });

  test('rate limiting answers 429 problem+json with Retry-After; health checks are exempt', async () => {
    const { t } = await catalogueApp({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const response = await t.request('/v1/index');
        statuses.push(response.statusCode);
        if (i < 3) {
          contract.check('GET', '/v1/index', response);
          expect(response.headers['x-ratelimit-remaining']).toBe(String(2 - i));
        }
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await t.request('/v1/index');
      contract.check('GET', '/v1/index', limited);
      expect(limited.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
      // The message states the configured limit, not the time left (that is Retry-After's job).
      expect(limited.json().detail).toBe('Rate limit of 3 requests per 1 minute exceeded');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // The rate-limit headers the document lists (contract.check validated them when present).
      expect(limited.headers).toMatchObject({ 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '0' });
      const exempt = await t.request('/healthz');
      expect(exempt.headers['x-ratelimit-limit']).toBeUndefined();
      for (let i = 0; i < 5; i++) expect((await t.request('/healthz')).statusCode).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  test('the 429 message names the configured window in words, whatever its unit', async () => {
    expect(
      ['1000', '90s', '2h', '1500ms', '1m'].map((window) =>
        describeWindow(loadConfig({ RATE_LIMIT_WINDOW: window }).RATE_LIMIT_WINDOW),
      ),
    ).toEqual(['1 second', '90 seconds', '2 hours', '1500 milliseconds', '1 minute']);
    const { t } = await catalogueApp({ RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW: '90s' });
    try {
      expect((await t.request('/v1/index')).statusCode).toBe(200);
      const limited = await t.request('/v1/index');
      expect(limited.statusCode).toBe(429);
      expect(limited.json().detail).toBe('Rate limit of 1 request per 90 seconds exceeded');
    } finally {
      await t.app.close();
    }
  });

  test('CORS headers only for configured origins', async () => {
    const { t } = await catalogueApp({ CORS_ORIGINS: 'https://shop.example.com' });
    try {
      const allowed = await t.request('/v1/index', { headers: { origin: 'https://shop.example.com' } });
      expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example.com');
      expect(allowed.headers['access-control-expose-headers']).toContain('x-request-id');
      const other = await t.request('/v1/index', { headers: { origin: 'https://evil.example.com' } });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      const preflight = await t.request('/v1/items', {
        method: 'OPTIONS',
        headers: {
          origin: 'https://shop.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
    } finally {
      await t.app.close();
    }
    const { t: closed } = await catalogueApp();
    try {
      const none = await closed.request('/v1/index', { headers: { origin: 'https://shop.example.com' } });
      expect(none.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await closed.app.close();
    }
  });

  test('a Redis that hangs costs REDIS_TIMEOUT_MS, then 503 QUEUE_UNAVAILABLE; searches are unaffected', async () => {
    const { t, image } = await catalogueApp({ REDIS_TIMEOUT_MS: '200' });
    try {
      t.queue.down = 'hang';
      const started = Date.now();
      const write = await t.request('/v1/items/a', { method: 'DELETE' });
      expect(write.statusCode).toBe(503);
      expect(write.json().code).toBe('QUEUE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(2000);
      // Still ready (issue 16: searches do not need Redis; this was a 503), with Redis reported down.
      const ready = await t.request('/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json().checks).toMatchObject({ redis: { ok: false } });
      const metrics = await t.request('/metrics');
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).not.toContain('lookalike_queue_jobs{');
      const search = await t.request('/v1/similar', {
        method: 'POST',
        json: { imageBase64: image.toString('base64') },
      });
      expect(search.statusCode).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  test('a snapshot of another model is 503 MODEL_MISMATCH, not garbage results', async () => {
    const t = await buildTestApp();
    try {
      const image = await solidPng([1, 2, 3]);
      const otherModel = { ...FAKE_MODEL, id: 'other', sha256: 'c'.repeat(64) };
      t.snapshots.swap(
        new FakeSnapshot(1, [{ id: 'a', vector: fakeVector(image), metadata: {} }], otherModel),
      );
      const response = await t.request('/v1/similar', {
        method: 'POST',
        json: { imageBase64: image.toString('base64') },
      });
      contract.check('POST', '/v1/similar', response);
      expect(response.statusCode).toBe(503);
      expect(response.json().code).toBe('MODEL_MISMATCH');
    } finally {
      await t.app.close();
    }
  });

  test('hot swap: the next request answers from the new snapshot with its version', async () => {
    const { t, image } = await catalogueApp();
    try {
      expect((await t.request('/v1/items/a')).json().indexVersion).toBe(1);
      t.snapshots.swap(new FakeSnapshot(2, [{ id: 'b', vector: fakeVector(image), metadata: {} }]));
      expect((await t.request('/v1/items/a')).statusCode).toBe(404);
      const search = await t.request('/v1/similar', {
        method: 'POST',
        json: { imageBase64: image.toString('base64') },
      });
      expect(search.json()).toMatchObject({ indexVersion: 2, results: [{ id: 'b' }] });
      expect((await t.request('/readyz')).json().checks).toMatchObject({ snapshot: { version: 2 } });
    } finally {
      await t.app.close();
    }
  });
});
