import type { RoutesOverFakes } from '../harness';

/** Route tests of ops (run by test/routes.test.ts, which checks contract coverage). */
export function opsRouteTests(h: RoutesOverFakes): void {
  const { call, json } = h;
  test('GET /healthz answers while nothing else is there', async () => {
    const response = await call(h.t, '/healthz', { method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ status: 'ok' });
    expect(response.headers['x-request-id']).toBeTruthy();
  });

  test('GET /readyz: 503 without a snapshot; 200 with one, Redis up or down (reported in checks)', async () => {
    let response = await call(h.t, '/readyz', { method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(response)).toMatchObject({
      code: 'NOT_READY',
      checks: { snapshot: { ok: false, version: null }, redis: { ok: true } },
    });

    h.loadCatalogue(7);
    response = await call(h.t, '/readyz', { method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      status: 'ready',
      checks: { snapshot: { ok: true, version: 7 }, redis: { ok: true } },
    });

    // Issue 16: searches do not need Redis, so a replica with a snapshot stays ready when Redis is
    // down (this was a 503); the body still says Redis is down.
    h.t.queue.down = 'refuse';
    response = await call(h.t, '/readyz', { method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      status: 'ready',
      checks: { snapshot: { ok: true, version: 7 }, redis: { ok: false } },
    });
  });

  test('GET /metrics exposes latency histograms, index, reloads, queue and inference figures', async () => {
    h.loadCatalogue(3);
    await h.t.queue.enqueue({ kind: 'reindex' });
    await call(h.t, '/healthz', { method: 'GET', url: '/healthz' });
    const response = await call(h.t, '/metrics', { method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const text = response.body;
    expect(text).toMatch(/lookalike_http_request_duration_seconds_bucket\{.*route="\/healthz".*\} 1/);
    expect(text).toContain('lookalike_index_version 3');
    expect(text).toContain('lookalike_index_items 3');
    expect(text).toContain('lookalike_index_reloads_total 1');
    expect(text).toContain('lookalike_queue_jobs{state="waiting"} 1');
    expect(text).toContain('lookalike_inference_running 0');
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).not.toContain('lookalike_api_process');
  });

  test('unknown routes are problem+json 404s', async () => {
    const response = await h.t.request('/v2/nothing');
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(response)).toMatchObject({ code: 'ROUTE_NOT_FOUND', status: 404, title: 'Not Found' });
  });

  test('a sane X-Request-Id is kept and echoed; a weird one is replaced', async () => {
    const kept = await h.t.request('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers['x-request-id']).toBe('abc-123');
    const replaced = await h.t.request('/v1/index', { headers: { 'x-request-id': 'bad id!' } });
    expect(replaced.headers['x-request-id']).not.toBe('bad id!');
    expect(json(replaced).requestId).toBe(replaced.headers['x-request-id']);
  });

  test('GET /docs serves the interactive documentation and the same document', async () => {
    const page = await h.t.request('/docs/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const served = await h.t.request('/docs/json');
    expect(served.json()).toEqual(h.contract.document);
  });
}
