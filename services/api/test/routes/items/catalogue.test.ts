/**
 * Catalogue browsing (GET /v1/items, /v1/index/fields, /v1/items/{id}/image) and the demo page over
 * fakes and real HTTP; responses are checked against the committed OpenAPI document. The page in a
 * real browser against real services: tests/demo-page.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { thumbnailPath } from '@lookalike/contracts';
import {
  ContractChecker,
  FakeSnapshot,
  buildTestApp,
  fakeVector,
  type HttpResponse,
  type RequestOptions,
  type TestApp,
} from '../../helpers';

const contract = new ContractChecker();

interface ItemPage {
  indexVersion: number;
  total: number;
  offset: number;
  limit: number;
  items: Array<{ id: string; metadata: Record<string, string | number> }>;
}
interface Field {
  name: string;
  items: number;
  distinct: number;
  values: Array<{ value: string; count: number }>;
}
const page = async (t: TestApp, url: string) => (await call(t, url)).json() as unknown as ItemPage;

async function call(t: TestApp, url: string, options: RequestOptions = {}): Promise<HttpResponse> {
  const response = await t.request(url, options);
  contract.check(options.method ?? 'GET', contract.templateOf(options.method ?? 'GET', url), response);
  return response;
}

/** 30 items: colours cycle over 3 values, kinds over 2, every item has a unique name. */
function catalogue(version = 4): FakeSnapshot {
  const colours = ['red', 'green', 'blue'];
  return new FakeSnapshot(
    version,
    Array.from({ length: 30 }, (_, i) => ({
      id: `item-${String(i).padStart(2, '0')}`,
      vector: fakeVector(Buffer.from([i])),
      metadata: {
        colour: colours[i % 3] as string,
        kind: i % 2 ? 'shoe' : 'shirt',
        year: 2010 + (i % 2),
        name: `Thing number ${i}`,
      },
      // Where the indexer found the image: internal, must never show.
      source: { imagePath: `secret/${i}.jpg` },
    })),
  );
}

describe('catalogue browsing routes', () => {
  let t: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'api-catalogue-'));
    t = await buildTestApp({ DATA_DIR: dataDir });
  });
  afterAll(async () => {
    await t.app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('without a snapshot: 503 NO_SNAPSHOT', async () => {
    t.snapshots.swap(null);
    for (const url of ['/v1/items', '/v1/index/fields', '/v1/items/item-01/image']) {
      const response = await call(t, url);
      expect([url, response.statusCode, response.json().code]).toEqual([url, 503, 'NO_SNAPSHOT']);
    }
  });

  test('GET /v1/items pages through the items in index order, without internal metadata', async () => {
    t.snapshots.swap(catalogue());
    const first = await page(t, '/v1/items?limit=4');
    expect(first).toMatchObject({ indexVersion: 4, total: 30, offset: 0, limit: 4 });
    expect(first.items).toEqual([0, 1, 2, 3].map((i) => expect.objectContaining({ id: `item-0${i}` })));
    expect(first.items[0]).toEqual({
      id: 'item-00',
      metadata: { colour: 'red', kind: 'shirt', year: 2010, name: 'Thing number 0' },
    });
    const last = await page(t, '/v1/items?limit=8&offset=24');
    expect(last.items.map((i: { id: string }) => i.id)).toEqual(
      [24, 25, 26, 27, 28, 29].map((i) => `item-${i}`),
    );
    const beyond = await page(t, '/v1/items?offset=100');
    expect(beyond).toMatchObject({ total: 30, items: [], limit: 24 });
    expect(JSON.stringify([first, last])).not.toContain('_source');
    expect(JSON.stringify([first, last])).not.toContain('secret/');
  });

  test('GET /v1/items with a filter: only matching items, total counts the matches', async () => {
    t.snapshots.swap(catalogue());
    const compact = await page(t, '/v1/items?limit=3&offset=1&filter=colour:red|blue,kind:shirt');
    // shirts are even i; red i%3==0, blue i%3==2 → 0,2,6,8,12,14,18,20,24,26
    expect(compact.total).toBe(10);
    expect(compact.items.map((i: { id: string }) => i.id)).toEqual(['item-02', 'item-06', 'item-08']);
    const asJson = await page(t, `/v1/items?filter=${encodeURIComponent(JSON.stringify({ year: [2011] }))}`);
    expect(asJson.total).toBe(15);
    for (const item of asJson.items) expect(item.metadata.year).toBe(2011);
  });

  test('GET /v1/items refuses bad paging, unknown and internal filter fields', async () => {
    t.snapshots.swap(catalogue());
    for (const [url, code] of [
      ['/v1/items?limit=0', 'VALIDATION_FAILED'],
      ['/v1/items?limit=101', 'VALIDATION_FAILED'],
      ['/v1/items?offset=-1', 'VALIDATION_FAILED'],
      ['/v1/items?nope=1', 'VALIDATION_FAILED'],
      ['/v1/items?filter=colour', 'INVALID_FILTER'],
      ['/v1/items?filter=size:M', 'UNKNOWN_FILTER_FIELD'],
      ['/v1/items?filter=_source:x', 'INVALID_FILTER'],
    ] as const) {
      const response = await call(t, url);
      expect([url, response.statusCode, response.json().code]).toEqual([url, 400, code]);
    }
  });

  test('GET /v1/index/fields: every public field with value counts, most frequent first', async () => {
    t.snapshots.swap(catalogue(5));
    const info = (await call(t, '/v1/index/fields')).json();
    expect(info).toMatchObject({ indexVersion: 5, count: 30 });
    const byName: Record<string, Field> = Object.fromEntries(
      (info.fields as Field[]).map((field) => [field.name, field]),
    );
    expect(Object.keys(byName).sort()).toEqual(['colour', 'kind', 'name', 'year']);
    expect(byName.colour).toEqual({
      name: 'colour',
      items: 30,
      distinct: 3,
      values: [
        { value: 'blue', count: 10 },
        { value: 'green', count: 10 },
        { value: 'red', count: 10 },
      ],
    });
    expect(byName.year?.values).toEqual([
      { value: '2010', count: 15 },
      { value: '2011', count: 15 },
    ]);
    expect(byName.name).toMatchObject({ distinct: 30, items: 30 });
  });

  test('GET /v1/items/{id}/image serves the thumbnail with caching headers and 304 on a matching ETag', async () => {
    t.snapshots.swap(catalogue());
    const webp = await sharp({
      create: { width: 48, height: 64, channels: 3, background: { r: 10, g: 120, b: 200 } },
    })
      .webp()
      .toBuffer();
    const file = thumbnailPath(dataDir, 'item-03');
    expect(file).toBe(path.join(dataDir, 'thumbnails', 'item-03.webp'));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, webp);

    const response = await fetch(`${t.url}/v1/items/item-03/image`);
    const body = Buffer.from(await response.arrayBuffer());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/webp');
    expect(response.headers.get('cache-control')).toBe('public, max-age=600');
    expect(body.equals(webp)).toBe(true);
    const etag = response.headers.get('etag') as string;
    expect(etag).toMatch(/^W\/".+"$/);
    contract.check('GET', '/v1/items/{id}/image', {
      statusCode: 200,
      headers: Object.fromEntries(response.headers.entries()),
      body: body.toString('latin1'),
    });

    const again = await call(t, '/v1/items/item-03/image', { headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');

    // A new thumbnail (the item's image changed) has a new ETag.
    writeFileSync(file, Buffer.concat([webp, Buffer.alloc(1)]));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const changed = await call(t, '/v1/items/item-03/image', { headers: { 'if-none-match': etag } });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
  });

  test('GET /v1/items/{id}/image: 404 problems for an unknown item, an item without a thumbnail, a bad id', async () => {
    t.snapshots.swap(catalogue());
    // A leftover thumbnail of an item no longer in the snapshot is not served.
    mkdirSync(path.join(dataDir, 'thumbnails'), { recursive: true });
    writeFileSync(thumbnailPath(dataDir, 'deleted-item'), 'stale');
    const unknown = await call(t, '/v1/items/deleted-item/image');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.json()).toMatchObject({ code: 'ITEM_NOT_FOUND', status: 404 });

    const missing = await call(t, '/v1/items/item-07/image');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'THUMBNAIL_NOT_FOUND' });

    const bad = await call(t, '/v1/items/..%2F..%2Fetc%2Fpasswd/image');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  test('thumbnails are private to the client when reads need the API key', async () => {
    const key = 'k'.repeat(32);
    const locked = await buildTestApp({ DATA_DIR: dataDir, API_KEY: key, API_KEY_READS: 'true' });
    try {
      locked.snapshots.swap(catalogue());
      writeFileSync(thumbnailPath(dataDir, 'item-01'), 'webp bytes');
      expect((await locked.request('/v1/items/item-01/image')).statusCode).toBe(401);
      const ok = await locked.request('/v1/items/item-01/image', {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['cache-control']).toBe('private, max-age=600');
    } finally {
      await locked.app.close();
    }
  });
});

describe('the demo page', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => {
    await t.app.close();
  });

  test('GET / serves the page with a strict Content-Security-Policy; its script and styles load', async () => {
    const page = await t.request('/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(page.body).toContain('<script type="module" src="/demo/demo.js"></script>');
    expect(page.body).toContain('pnpm lookalike import --csv');
    const script = await t.request('/demo/demo.js');
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const styles = await t.request('/demo/demo.css');
    expect(styles.headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await t.request('/demo/nothing.js')).statusCode).toBe(404);
  });

  test('answers 304 to a matching ETag, and stays out of the OpenAPI document', async () => {
    const page = await t.request('/');
    const again = await t.request('/', { headers: { 'if-none-match': page.headers.etag as string } });
    expect(again.statusCode).toBe(304);
    expect(Object.keys(contract.document.paths).filter((p) => !p.startsWith('/v1/'))).toEqual([
      '/healthz',
      '/readyz',
      '/metrics',
    ]);
  });
});
