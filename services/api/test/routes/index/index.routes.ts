import { FAKE_MODEL } from '../../helpers';
import type { RoutesOverFakes } from '../harness';

/** Route tests of index (run by test/routes.test.ts, which checks contract coverage). */
export function indexRouteTests(h: RoutesOverFakes): void {
  const { call, json } = h;
  test('GET /v1/index: 503 NO_SNAPSHOT, then the live snapshot', async () => {
    let response = await call(h.t, '/v1/index', { method: 'GET', url: '/v1/index' });
    expect(response.statusCode).toBe(503);
    expect(json(response)).toMatchObject({ code: 'NO_SNAPSHOT', status: 503 });
    expect(response.headers['retry-after']).toBe('5');

    h.loadCatalogue(4);
    response = await call(h.t, '/v1/index', { method: 'GET', url: '/v1/index' });
    expect(json(response)).toEqual({
      version: 4,
      count: 3,
      model: FAKE_MODEL.id,
      modelSha256: FAKE_MODEL.sha256,
      dimension: FAKE_MODEL.dimension,
      embeddingDimension: FAKE_MODEL.dimension,
      projection: null,
      builtAt: '2024-01-01T00:00:00.000Z',
      feedback: null,
      refused: null,
    });
  });

  test('GET /v1/index names a newer snapshot the reader refused', async () => {
    h.loadCatalogue(4);
    const refusal = { version: 5, reason: 'items.ndjson checksum mismatch', at: '2024-01-02T00:00:00.000Z' };
    h.t.snapshots.refusal = refusal;
    try {
      const response = await call(h.t, '/v1/index', { method: 'GET', url: '/v1/index' });
      expect(json(response)).toMatchObject({ version: 4, refused: refusal });
    } finally {
      h.t.snapshots.refusal = null;
    }
  });
}
