/**
 * Conditional GET (@fastify/etag) on the routes whose body changes only with the content: an item,
 * the snapshot info and fields, the demo page's files, the widget bundle and the example shop page, and
 * the OpenAPI document at /docs/json. Real HTTP; the API responses are checked against the committed
 * document (200 and 304).
 */
import { ContractChecker, FakeSnapshot, buildTestApp, fakeVector, solidPng } from './helpers';

const contract = new ContractChecker();

describe('ETag and 304 on If-None-Match', () => {
  test('items, the snapshot info and fields: 304 while unchanged, a new ETag once the snapshot changes', async () => {
    const t = await buildTestApp();
    try {
      const image = await solidPng([10, 120, 200]);
      const item = { id: 'a', vector: fakeVector(image), metadata: { kind: 'x' } };
      t.snapshots.swap(new FakeSnapshot(1, [item]));
      const routes = [
        { path: '/v1/items/a', template: '/v1/items/{id}' },
        { path: '/v1/index', template: '/v1/index' },
        { path: '/v1/index/fields', template: '/v1/index/fields' },
      ];
      const tags = new Map<string, string>();
      for (const { path, template } of routes) {
        const first = await t.request(path);
        contract.check('GET', template, first);
        expect([path, first.statusCode, first.headers.etag]).toEqual([
          path,
          200,
          expect.stringMatching(/^".+"$/),
        ]);
        const tag = first.headers.etag as string;
        tags.set(path, tag);
        // The same body again: the same tag.
        expect((await t.request(path)).headers.etag).toBe(tag);
        const unchanged = await t.request(path, { headers: { 'if-none-match': tag } });
        contract.check('GET', template, unchanged);
        expect([path, unchanged.statusCode, unchanged.body]).toEqual([path, 304, '']);
        const otherTag = await t.request(path, { headers: { 'if-none-match': '"something-else"' } });
        expect([path, otherTag.statusCode]).toEqual([path, 200]);
      }
      // A new snapshot (every body names its version): the old tags no longer match.
      t.snapshots.swap(new FakeSnapshot(2, [item]));
      for (const { path, template } of routes) {
        const changed = await t.request(path, { headers: { 'if-none-match': tags.get(path) as string } });
        contract.check('GET', template, changed);
        expect([path, changed.statusCode]).toEqual([path, 200]);
        expect(changed.headers.etag).not.toBe(tags.get(path));
      }
    } finally {
      await t.app.close();
    }
  });

  test('the demo page, its scripts, the widget, the example shop and the OpenAPI document at /docs/json', async () => {
    const t = await buildTestApp();
    try {
      for (const path of [
        '/',
        '/demo/demo.js',
        '/widget/lookalike.js',
        '/examples/shop.html',
        '/docs/json',
      ]) {
        const first = await t.request(path);
        expect([path, first.statusCode, first.headers.etag]).toEqual([
          path,
          200,
          expect.stringMatching(/^".+"$/),
        ]);
        const again = await t.request(path, { headers: { 'if-none-match': first.headers.etag as string } });
        expect([path, again.statusCode, again.body]).toEqual([path, 304, '']);
      }
    } finally {
      await t.app.close();
    }
  });

  test('routes without stable content send no ETag', async () => {
    const t = await buildTestApp();
    try {
      t.snapshots.swap(new FakeSnapshot(1, []));
      expect((await t.request('/healthz')).headers.etag).toBeUndefined();
      expect((await t.request('/v1/items')).headers.etag).toBeUndefined();
    } finally {
      await t.app.close();
    }
  });
});
