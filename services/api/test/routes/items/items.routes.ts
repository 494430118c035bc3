import { FakeSnapshot, fakeVector } from '../../helpers';
import type { RoutesOverFakes } from '../harness';

/** Route tests of items (run by test/routes.test.ts, which checks contract coverage). */
export function itemsRouteTests(h: RoutesOverFakes): void {
  const { call, json } = h;
  test('GET /v1/items/{id}: the stored item with its snapshot version, 404 otherwise', async () => {
    h.loadCatalogue(6);
    const response = await call(h.t, '/v1/items/{id}', { method: 'GET', url: '/v1/items/blue-shoe' });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({
      id: 'blue-shoe',
      metadata: { colour: 'blue', kind: 'shoe', year: 2012 },
      contentHash: 'b'.repeat(64),
      indexedAt: '2024-01-01T00:00:00.000Z',
      indexVersion: 6,
    });
    const missing = await call(h.t, '/v1/items/{id}', { method: 'GET', url: '/v1/items/unknown-item' });
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({ code: 'ITEM_NOT_FOUND', instance: '/v1/items/unknown-item' });
  });

  test('an item’s source is never shown; internal metadata (keys starting with _) is never taken from clients', async () => {
    // Stored items keep where their image came from in `source` (it may name private hosts).
    const source = { imageUrl: 'http://10.1.2.3/private/red.png' };
    h.t.snapshots.swap(
      new FakeSnapshot(8, [
        { id: 'red', vector: fakeVector(h.red), metadata: { colour: 'red' }, source },
        { id: 'green', vector: fakeVector(h.green), metadata: { colour: 'green' }, source },
      ]),
    );
    const item = await call(h.t, '/v1/items/{id}', { method: 'GET', url: '/v1/items/red' });
    expect(json(item).metadata).toEqual({ colour: 'red' });
    expect(Object.keys(json(item))).not.toContain('source');
    expect(item.body).not.toContain('10.1.2.3');
    const byId = await call(h.t, '/v1/items/{id}/similar', { method: 'GET', url: '/v1/items/red/similar' });
    expect(byId.body).not.toContain('10.1.2.3');
    expect(json(byId).results).toEqual([
      {
        id: 'green',
        score: expect.any(Number),
        similarity: expect.any(Number),
        signals: ['visual'],
        metadata: { colour: 'green' },
      },
    ]);
    const byImage = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: h.red.toString('base64') },
    });
    for (const hit of json(byImage).results as Array<{ metadata: object }>) {
      expect(Object.keys(hit.metadata)).toEqual(['colour']);
    }
    expect(byImage.body).not.toContain('_source');
    expect(byImage.body).not.toContain('10.1.2.3');

    // Not a filter field either, and not listed among the known ones.
    const filtered = await call(h.t, '/v1/items/{id}/similar', {
      method: 'GET',
      url: '/v1/items/red/similar?filter=_source:x',
    });
    expect(filtered.statusCode).toBe(400);
    expect(json(filtered).code).toBe('INVALID_FILTER');
    const unknown = await call(h.t, '/v1/items/{id}/similar', {
      method: 'GET',
      url: '/v1/items/red/similar?filter=brand:x',
    });
    expect(json(unknown)).toMatchObject({
      code: 'UNKNOWN_FILTER_FIELD',
      detail: expect.stringMatching(/known fields: colour$/),
    });

    const refused = await call(h.t, '/v1/items', {
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
    expect(h.t.queue.jobs.size).toBe(0);
  });

  test('POST /v1/items queues one upsert job and points at it', async () => {
    const response = await call(h.t, '/v1/items', {
      method: 'POST',
      url: '/v1/items',
      json: {
        items: [
          { id: 'a', imageUrl: 'https://example.com/a.jpg', metadata: { colour: 'red', size: 42 } },
          { id: 'b', imageBase64: h.red.toString('base64') },
          { id: 'c', imagePath: 'shirts/c.jpg', metadata: {} },
        ],
      },
    });
    expect(response.statusCode).toBe(202);
    const { jobId } = json(response) as { jobId: string };
    expect(response.headers.location).toBe(`/v1/jobs/${jobId}`);
    expect(h.t.queue.jobs.get(jobId)?.job).toEqual({
      kind: 'upsert',
      items: [
        { id: 'a', imageUrl: 'https://example.com/a.jpg', metadata: { colour: 'red', size: 42 } },
        { id: 'b', imageBase64: h.red.toString('base64'), metadata: {} },
        { id: 'c', imagePath: 'shirts/c.jpg', metadata: {} },
      ],
    });

    const duplicate = await call(h.t, '/v1/items', {
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

  test('catalogue browsing: GET /v1/items, /v1/index/fields, /v1/items/{id}/image (details: catalogue.test.ts)', async () => {
    h.loadCatalogue(3);
    const page = await call(h.t, '/v1/items', { method: 'GET', url: '/v1/items?limit=2&filter=kind:shirt' });
    expect(json(page)).toMatchObject({
      indexVersion: 3,
      total: 2,
      items: [{ id: 'red-shirt' }, { id: 'green-shirt' }],
    });
    const fields = await call(h.t, '/v1/index/fields', { method: 'GET', url: '/v1/index/fields' });
    expect(json(fields)).toMatchObject({ indexVersion: 3, count: 3 });
    const image = await call(h.t, '/v1/items/{id}/image', { method: 'GET', url: '/v1/items/nope/image' });
    expect(json(image)).toMatchObject({ code: 'ITEM_NOT_FOUND' });
  });
}
