/**
 * SearchService over HTTP with fakes: an image query waits in one place only (the inference queue),
 * the embedder sees at most INFERENCE_CONCURRENCY images at once and each upload once, and the
 * query's filter is checked against the snapshot that answers.
 */
import { FakeSnapshot, buildTestApp, fakeVector, solidPng, type TestApp } from '../helpers';

const until = async (done: () => boolean) => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('SearchService', () => {
  let t: TestApp;
  let image: Buffer;

  beforeEach(async () => {
    t = await buildTestApp({ INFERENCE_CONCURRENCY: '2', INFERENCE_QUEUE: '4' });
    image = await solidPng([10, 120, 200]);
    t.snapshots.swap(new FakeSnapshot(1, [{ id: 'a', vector: fakeVector(image), metadata: { kind: 'x' } }]));
  });
  afterEach(async () => {
    await t.app.close();
  });

  const search = (body: Record<string, unknown> = {}) =>
    t.request('/v1/similar', { method: 'POST', json: { imageBase64: image.toString('base64'), ...body } });

  test('image queries wait in the inference queue: the embedder gets INFERENCE_CONCURRENCY at once', async () => {
    let release: () => void = () => {};
    t.embedder.hold = new Promise<void>((resolve) => (release = resolve));
    const queries = Array.from({ length: 5 }, () => search());
    await until(() => t.embedder.calls >= 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(t.embedder.calls).toBe(2);
    const waiting = (await t.request('/metrics')).body;
    expect(waiting).toContain('lookalike_inference_running 2');
    expect(waiting).toContain('lookalike_inference_waiting 3');
    release();
    t.embedder.hold = null;
    for (const query of queries) expect((await query).statusCode).toBe(200);
    // Each upload was embedded once.
    expect(t.embedder.calls).toBe(5);
    const after = (await t.request('/metrics')).body;
    expect(after).toContain('lookalike_inference_running 0');
    expect(after).toContain('lookalike_inference_waiting 0');
  });

  test('a filter field the live snapshot lacks is refused after inference too', async () => {
    let release: () => void = () => {};
    t.embedder.hold = new Promise<void>((resolve) => (release = resolve));
    const query = search({ filter: 'kind:x' });
    await until(() => t.embedder.calls >= 1);
    // A reload while the image is embedded: the new snapshot has no `kind`.
    t.snapshots.swap(
      new FakeSnapshot(2, [{ id: 'b', vector: fakeVector(image), metadata: { colour: 'red' } }]),
    );
    release();
    const response = await query;
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'UNKNOWN_FILTER_FIELD',
      errors: [{ path: '/body/filter/kind', message: 'unknown field' }],
    });
  });
});
