import { FakeSnapshot, buildTestApp, fakeVector, type FakeItem, type TestApp } from '../../helpers';
import { DEFAULT_NEGATIVE_WEIGHT } from '../../../src/search/rocchio';
import type { RoutesOverFakes } from '../harness';

const unit = (...xs: number[]): Float32Array => {
  const v = new Float32Array(8);
  xs.forEach((x, j) => (v[j] = x));
  const n = Math.hypot(...xs);
  return v.map((x) => x / n);
};

/**
 * Hand-made vectors: `a` is the anchor's nearest neighbour but leans towards `neg`; `b` is a little
 * further from the anchor and leans away from `neg`. A negative must flip their order.
 */
const GEOMETRY: FakeItem[] = [
  { id: 'anchor', vector: unit(1, 0, 0), metadata: { colour: 'blue' } },
  { id: 'neg', vector: unit(0, 1, 0), metadata: { colour: 'red' } },
  { id: 'a', vector: unit(1, 0.4, 0), metadata: { colour: 'red' } },
  { id: 'b', vector: unit(1, -0.45, 0), metadata: { colour: 'blue' } },
  { id: 'c', vector: unit(0, 0, 1), metadata: { colour: 'green' } },
];

type Hits = { indexVersion: number; results: Array<{ id: string; score: number; similarity: number }> };

/** Route tests of POST /v1/recommend (run by test/routes.test.ts, which checks contract coverage). */
export function recommendRouteTests(h: RoutesOverFakes): void {
  const { call, json } = h;
  const recommend = (body: unknown, t: TestApp = h.t) =>
    call(t, '/v1/recommend', { method: 'POST', url: '/v1/recommend', json: body });
  const ids = (response: { json(): Record<string, unknown> }) =>
    (response.json() as Hits).results.map((r) => r.id);

  test('one positive id and no negative answers exactly what GET /v1/items/{id}/similar answers', async () => {
    h.loadCatalogue(3);
    for (const query of [{ k: 3 }, { k: 1 }, { k: 5, filter: 'kind:shirt' }]) {
      const byId = await call(h.t, '/v1/items/{id}/similar', {
        url: `/v1/items/red-shirt/similar?${new URLSearchParams(
          Object.entries(query).map(([key, value]): [string, string] => [key, String(value)]),
        )}`,
      });
      const recommended = await recommend({ positive: [{ id: 'red-shirt' }], ...query });
      expect(recommended.statusCode).toBe(200);
      // The same answer but for its own queryId (every result list gets a fresh one).
      const expected = json(byId);
      expect({ ...json(recommended), queryId: expected.queryId }).toEqual(expected);
    }
  });

  test('a negative moves the results away from it; every example id is left out', async () => {
    h.t.snapshots.swap(new FakeSnapshot(4, GEOMETRY));
    const positiveOnly = await recommend({ positive: [{ id: 'anchor' }], k: 2 });
    expect(ids(positiveOnly)).toEqual(['a', 'b']);
    const withNegative = await recommend({ positive: [{ id: 'anchor' }], negative: [{ id: 'neg' }], k: 2 });
    expect(withNegative.statusCode).toBe(200);
    expect(ids(withNegative)).toEqual(['b', 'a']);
    // The examples themselves are never results, even with room for every item.
    const all = ids(await recommend({ positive: [{ id: 'anchor' }], negative: [{ id: 'neg' }], k: 10 }));
    expect(all.sort()).toEqual(['a', 'b', 'c']);
    // β = 0 ignores the negative (its id is still excluded).
    const ignored = await recommend({
      positive: [{ id: 'anchor' }],
      negative: [{ id: 'neg' }],
      negativeWeight: 0,
      k: 2,
    });
    expect(ids(ignored)).toEqual(['a', 'b']);
    // Score = cosine with q = normalise(anchor − β·neg), β the default (no learned ranking on a fake).
    const [best] = (withNegative.json() as Hits).results;
    const q = unit(1, -DEFAULT_NEGATIVE_WEIGHT, 0);
    const b = unit(1, -0.45, 0);
    expect(best?.score).toBeCloseTo(
      q.reduce((s, x, j) => s + x * (b[j] as number), 0),
      5,
    );
  });

  test('two positives: their mean; an image example is embedded once and searched like the item', async () => {
    h.loadCatalogue(2);
    const calls = h.t.embedder.calls;
    const image = await recommend({ positive: [{ imageBase64: h.red.toString('base64') }], k: 3 });
    expect(image.statusCode).toBe(200);
    expect(h.t.embedder.calls).toBe(calls + 1);
    // An image is not an id: nothing is excluded, and the catalogue item of the same picture comes first.
    expect(ids(image)[0]).toBe('red-shirt');
    expect((image.json() as Hits).results[0]?.score).toBeCloseTo(1, 5);
    const mixed = await recommend({
      positive: [{ id: 'red-shirt' }, { imageBase64: h.green.toString('base64') }],
      k: 3,
    });
    expect(mixed.statusCode).toBe(200);
    expect(ids(mixed)).not.toContain('red-shirt');
    expect(ids(mixed)[0]).toBe('green-shirt');
  });

  test('validation: positive 1–10, negative 0–10, one kind of reference per example, k and β bounds', async () => {
    h.loadCatalogue(1);
    const bad = [
      {},
      { positive: [] },
      { positive: Array.from({ length: 11 }, () => ({ id: 'red-shirt' })) },
      {
        positive: [{ id: 'red-shirt' }],
        negative: Array.from({ length: 11 }, () => ({ id: 'green-shirt' })),
      },
      { positive: [{ id: 'red-shirt', imageUrl: 'https://example.com/x.jpg' }] },
      { positive: [{}] },
      { positive: [{ id: 'bad id!' }] },
      { positive: [{ id: 'red-shirt' }], k: 0 },
      { positive: [{ id: 'red-shirt' }], k: 101 },
      { positive: [{ id: 'red-shirt' }], negativeWeight: -0.1 },
      { positive: [{ id: 'red-shirt' }], negativeWeight: 2.5 },
      { positive: [{ id: 'red-shirt' }], crop: { x: 0, y: 0, w: 1, h: 1 } },
    ];
    for (const body of bad) {
      const response = await recommend(body);
      expect([JSON.stringify(body), response.statusCode]).toEqual([JSON.stringify(body), 400]);
      expect(json(response).code).toBe('VALIDATION_FAILED');
    }
    // Ten of each is allowed.
    const most = await recommend({
      positive: Array.from({ length: 10 }, () => ({ id: 'red-shirt' })),
      negative: Array.from({ length: 10 }, () => ({ id: 'blue-shoe' })),
    });
    expect(most.statusCode).toBe(200);
    expect(ids(most)).toEqual(['green-shirt']);
    const stray = await call(h.t, '/v1/recommend', {
      method: 'POST',
      url: '/v1/recommend?k=3',
      json: { positive: [{ id: 'red-shirt' }] },
    });
    expect(stray.statusCode).toBe(400);
  });

  test('unknown example ids: 404 EXAMPLE_NOT_FOUND listing each, before any image is embedded', async () => {
    h.loadCatalogue(1);
    const calls = h.t.embedder.calls;
    const response = await recommend({
      positive: [{ imageBase64: h.red.toString('base64') }, { id: 'nope-1' }],
      negative: [{ id: 'green-shirt' }, { id: 'nope-2' }],
    });
    expect(response.statusCode).toBe(404);
    expect(json(response)).toMatchObject({
      code: 'EXAMPLE_NOT_FOUND',
      errors: [
        { path: '/body/positive/1/id', message: expect.stringContaining('nope-1') },
        { path: '/body/negative/1/id', message: expect.stringContaining('nope-2') },
      ],
    });
    expect(h.t.embedder.calls).toBe(calls);
    // The single-id shortcut reports the same code as the general path.
    const single = await recommend({ positive: [{ id: 'nope-3' }] });
    expect(single.statusCode).toBe(404);
    expect(json(single).code).toBe('EXAMPLE_NOT_FOUND');
  });

  test('examples that cancel out are 400 DEGENERATE_QUERY; a server MAX_K is K_TOO_LARGE; no snapshot is 503', async () => {
    const empty = await recommend({ positive: [{ id: 'x' }] });
    expect(empty.statusCode).toBe(503);
    expect(json(empty).code).toBe('NO_SNAPSHOT');
    h.loadCatalogue(1);
    const cancel = await recommend({
      positive: [{ id: 'red-shirt' }],
      negative: [{ id: 'red-shirt' }],
      negativeWeight: 1,
    });
    expect(cancel.statusCode).toBe(400);
    expect(json(cancel).code).toBe('DEGENERATE_QUERY');
    const unknownField = await recommend({ positive: [{ id: 'red-shirt' }], filter: 'nope:1' });
    expect(json(unknownField).code).toBe('UNKNOWN_FILTER_FIELD');
    const t = await buildTestApp({ MAX_K: '5' });
    try {
      t.snapshots.swap(new FakeSnapshot(1, GEOMETRY));
      const response = await recommend({ positive: [{ id: 'anchor' }, { id: 'b' }], k: 6 }, t);
      expect(response.statusCode).toBe(400);
      expect(json(response).code).toBe('K_TOO_LARGE');
    } finally {
      await t.app.close();
    }
  });

  test('each image takes its own place in the inference queue: two images, one place → 503 INFERENCE_BUSY', async () => {
    const t = await buildTestApp({ INFERENCE_CONCURRENCY: '1', INFERENCE_QUEUE: '0' });
    try {
      t.snapshots.swap(new FakeSnapshot(1, [{ id: 'r', vector: fakeVector(h.red), metadata: {} }]));
      const two = await recommend(
        {
          positive: [{ imageBase64: h.red.toString('base64') }],
          negative: [{ imageBase64: h.green.toString('base64') }],
        },
        t,
      );
      expect(two.statusCode).toBe(503);
      expect(json(two).code).toBe('INFERENCE_BUSY');
      expect(t.embedder.calls).toBe(0);
      // The places taken before the refusal were given back: one image fits.
      const one = await recommend({ positive: [{ imageBase64: h.green.toString('base64') }] }, t);
      expect(one.statusCode).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  test('a hot swap during inference: every vector comes from the snapshot that answers', async () => {
    h.t.snapshots.swap(new FakeSnapshot(1, GEOMETRY));
    let release: () => void = () => {};
    h.t.embedder.hold = new Promise<void>((resolve) => (release = resolve));
    const pending = recommend({
      positive: [{ id: 'anchor' }, { imageBase64: h.blue.toString('base64') }],
      k: 3,
    });
    while (h.t.embedder.calls === 0) await new Promise((r) => setTimeout(r, 5));
    // Version 2 moves the anchor: the answer must use its new vector, not the one of version 1.
    const moved = GEOMETRY.map((item) => (item.id === 'anchor' ? { ...item, vector: unit(0, 0, 1) } : item));
    h.t.snapshots.swap(new FakeSnapshot(2, moved));
    release();
    h.t.embedder.hold = null;
    const response = await pending;
    expect(response.statusCode).toBe(200);
    const body = response.json() as Hits;
    expect(body.indexVersion).toBe(2);
    const image = fakeVector(h.blue);
    const q = unit(0, 0, 1).map((x, j) => (x + (image[j] as number)) / 2);
    const norm = Math.hypot(...q);
    const c = GEOMETRY.find((item) => item.id === 'c')?.vector as Float32Array;
    const expected = c.reduce((s, x, j) => s + (x * (q[j] as number)) / norm, 0);
    expect(body.results.find((r) => r.id === 'c')?.score).toBeCloseTo(expected, 5);

    // An example id gone from the answering snapshot is 404 too, not a search on a stale vector.
    h.t.embedder.hold = new Promise<void>((resolve) => (release = resolve));
    const calls = h.t.embedder.calls;
    const gone = recommend({ positive: [{ id: 'a' }, { imageBase64: h.blue.toString('base64') }] });
    while (h.t.embedder.calls === calls) await new Promise((r) => setTimeout(r, 5));
    h.t.snapshots.swap(
      new FakeSnapshot(
        3,
        GEOMETRY.filter((item) => item.id !== 'a'),
      ),
    );
    release();
    h.t.embedder.hold = null;
    const goneResponse = await gone;
    expect(goneResponse.statusCode).toBe(404);
    expect(json(goneResponse)).toMatchObject({
      code: 'EXAMPLE_NOT_FOUND',
      errors: [{ path: '/body/positive/0/id' }],
    });
  });
}
