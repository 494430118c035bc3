/**
 * Malformed requests against the app on a real port with the real Embedder (ONNX + sharp), the real
 * ImageSource and a real snapshot (SnapshotWriter → SnapshotReader in a temp dir): each gets its
 * documented 4xx as problem+json with a stable code, no stack trace, and the server keeps serving.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotReader, SnapshotWriter } from '@lookalike/index-store';
import { buildApp, type App } from '../src/app';
import {
  ContractChecker,
  FakeQueue,
  hasSharedModels,
  httpRequest,
  modelCacheDir,
  modelMirror,
  multipartBody,
  pixelBombPng,
  sceneJpeg,
  solidPng,
  testConfig,
  type HttpResponse,
  type RequestOptions,
} from './helpers';

const contract = new ContractChecker();
const MAX_UPLOAD = 256 * 1024;
const describeReal = hasSharedModels ? describe : describe.skip;

interface BadCase {
  name: string;
  template: string;
  path: string;
  request: RequestOptions;
  status: number;
  code: string;
}

describeReal('bad input (real embedder, real HTTP)', () => {
  let app: App;
  let url: string;
  let embedder: Embedder;
  let catalogueRoot: string;
  let dataDir: string;
  let reader: SnapshotReader;
  let images: ImageSource;
  let good: Buffer;
  let loopbackServer: http.Server;
  let loopbackUrl: string;
  const cases: BadCase[] = [];

  beforeAll(async () => {
    embedder = await createEmbedder({
      model: 'mobilenetv2-shufflenetv2-int8',
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 1,
      maxBytes: MAX_UPLOAD,
      maxPixels: 4_000_000,
    });
    const config = testConfig({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD), MAX_BODY_BYTES: String(512 * 1024) });
    catalogueRoot = await mkdtemp(path.join(os.tmpdir(), 'api-bad-input-'));
    images = new ImageSource({
      catalogueRoot,
      maxBytes: MAX_UPLOAD,
      timeoutMs: 2000,
      maxRedirects: 0,
      allowPrivateNetworks: false,
    });
    // A real image server on loopback: the SSRF guard must refuse it even though it would answer.
    loopbackServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(good);
    });
    await new Promise<void>((resolve) => loopbackServer.listen(0, '127.0.0.1', resolve));
    loopbackUrl = `http://127.0.0.1:${(loopbackServer.address() as AddressInfo).port}/x.jpg`;

    good = await sceneJpeg(1);
    const items = await Promise.all(
      [1, 2, 3].map(async (seed) => ({
        id: `item-${seed}`,
        vector: (await embedder.embed(await sceneJpeg(seed))).vector,
        metadata: { colour: seed === 1 ? 'red' : 'blue', size: seed },
        contentHash: String(seed).repeat(64),
      })),
    );
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-bad-input-data-'));
    const writer = await SnapshotWriter.open({ dataDir, model: embedder.model });
    await writer.publish({ upserts: items, deletes: [] });
    await writer.close();
    reader = await SnapshotReader.open({ dataDir, expectedModel: embedder.model });
    app = await buildApp({ config, deps: { embedder, snapshots: reader, queue: new FakeQueue(), images } });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await embedder?.close();
    await images?.close();
    await reader?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await new Promise((resolve) => loopbackServer?.close(resolve));
    if (catalogueRoot) await rm(catalogueRoot, { recursive: true, force: true });
  });

  async function upload(file: { data: Buffer; contentType?: string; name?: string; filename?: string }) {
    return multipartBody([
      { name: 'k', value: '3' },
      {
        name: file.name ?? 'image',
        filename: file.filename ?? 'query.jpg',
        contentType: file.contentType ?? 'image/jpeg',
        data: file.data,
      },
    ]);
  }

  function add(c: BadCase): void {
    cases.push(c);
  }

  const post = (json: unknown): RequestOptions => ({ method: 'POST', json });
  const form = (f: { body: Buffer; contentType: string }): RequestOptions => ({
    method: 'POST',
    body: f.body,
    headers: { 'content-type': f.contentType },
  });

  test('every malformed request gets its documented 4xx problem', async () => {
    const truncatedJpeg = good.subarray(0, Math.floor(good.length / 2));
    const text = Buffer.from('name,price\nshirt,10\n'.repeat(20));

    // --- uploads
    add({
      name: 'no file',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(multipartBody([{ name: 'k', value: '3' }])),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      // Search options of an image query go in the body; `?k=` would otherwise be silently ignored.
      name: 'search option in the query string of an upload',
      template: '/v1/similar',
      path: '/v1/similar?k=3',
      request: form(await upload({ data: good })),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'empty file',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(await upload({ data: Buffer.alloc(0) })),
      status: 422,
      code: 'IMAGE_EMPTY',
    });
    add({
      name: 'text file',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(await upload({ data: text, contentType: 'text/csv', filename: 'a.csv' })),
      status: 415,
      code: 'IMAGE_UNSUPPORTED',
    });
    add({
      name: 'truncated JPEG',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(await upload({ data: truncatedJpeg })),
      status: 422,
      code: 'IMAGE_CORRUPT',
    });
    add({
      name: 'pixel bomb (50k × 50k PNG)',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(await upload({ data: pixelBombPng(50_000, 50_000), contentType: 'image/png' })),
      status: 413,
      code: 'IMAGE_TOO_MANY_PIXELS',
    });
    add({
      name: 'tiny image (8×8)',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(await upload({ data: await solidPng([1, 2, 3], 8, 8), contentType: 'image/png' })),
      status: 422,
      code: 'IMAGE_TOO_SMALL',
    });
    add({
      name: 'upload over MAX_UPLOAD_BYTES',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(await upload({ data: Buffer.concat([good, Buffer.alloc(MAX_UPLOAD)]) })),
      status: 413,
      code: 'IMAGE_TOO_LARGE',
    });
    add({
      name: 'two files',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(
        multipartBody([
          { name: 'image', filename: 'a.jpg', contentType: 'image/jpeg', data: good },
          { name: 'image', filename: 'b.jpg', contentType: 'image/jpeg', data: good },
        ]),
      ),
      status: 413,
      code: 'MULTIPART_LIMIT',
    });
    add({
      name: 'file under another field name',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(await upload({ data: good, name: 'photo' })),
      status: 400,
      code: 'MULTIPART_INVALID',
    });
    add({
      name: 'image sent as a text field',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(multipartBody([{ name: 'image', value: 'not a file' }])),
      status: 400,
      code: 'IMAGE_MISSING',
    });
    add({
      name: 'form field too long',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(
        multipartBody([
          { name: 'filter', value: 'x'.repeat(5000) },
          { name: 'image', filename: 'a.jpg', contentType: 'image/jpeg', data: good },
        ]),
      ),
      status: 413,
      code: 'MULTIPART_LIMIT',
    });
    add({
      name: 'unknown form field',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form(
        multipartBody([
          { name: 'colour', value: 'red' },
          { name: 'image', filename: 'a.jpg', contentType: 'image/jpeg', data: good },
        ]),
      ),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    const cut = await upload({ data: good });
    add({
      name: 'multipart body cut off mid-file',
      template: '/v1/similar',
      path: '/v1/similar',
      request: form({ body: cut.body.subarray(0, cut.body.length - 400), contentType: cut.contentType }),
      status: 400,
      code: 'MULTIPART_INVALID',
    });
    add({
      name: 'multipart without boundary',
      template: '/v1/similar',
      path: '/v1/similar',
      request: { method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data' } },
      status: 400,
      code: 'MULTIPART_INVALID',
    });

    // --- content types and bodies
    add({
      name: 'text/plain body',
      template: '/v1/similar',
      path: '/v1/similar',
      request: { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    add({
      name: 'raw JPEG body',
      template: '/v1/similar',
      path: '/v1/similar',
      request: { method: 'POST', body: good, headers: { 'content-type': 'image/jpeg' } },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    add({
      name: 'multipart to a JSON-only route',
      template: '/v1/items',
      path: '/v1/items',
      request: form(await upload({ data: good })),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    add({
      name: 'malformed JSON',
      template: '/v1/similar',
      path: '/v1/similar',
      request: { method: 'POST', body: '{"imageUrl":', headers: { 'content-type': 'application/json' } },
      status: 400,
      code: 'INVALID_JSON',
    });
    add({
      name: 'empty JSON body',
      template: '/v1/similar',
      path: '/v1/similar',
      request: { method: 'POST', body: '', headers: { 'content-type': 'application/json' } },
      status: 400,
      code: 'INVALID_JSON',
    });
    add({
      name: 'prototype poisoning',
      template: '/v1/items',
      path: '/v1/items',
      request: {
        method: 'POST',
        body: '{"items":[],"__proto__":{"admin":true}}',
        headers: { 'content-type': 'application/json' },
      },
      status: 400,
      code: 'INVALID_JSON',
    });
    add({
      name: 'JSON body over MAX_BODY_BYTES',
      template: '/v1/items',
      path: '/v1/items',
      request: post({ items: [{ id: 'a', imageBase64: 'A'.repeat(600 * 1024) }] }),
      status: 413,
      code: 'BODY_TOO_LARGE',
    });

    // --- search parameters
    add({
      name: 'k = 0',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?k=0',
      request: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'k = abc',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?k=abc',
      request: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'k = 1000 (JSON)',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageBase64: good.toString('base64'), k: 1000 }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'k as a string in JSON',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageBase64: good.toString('base64'), k: '5' }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'minScore = 2',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?minScore=2',
      request: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'collapse = 0',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?collapse=0',
      request: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'unknown query parameter',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?limit=5',
      request: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'filter without a colon',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?filter=colour',
      request: {},
      status: 400,
      code: 'INVALID_FILTER',
    });
    add({
      name: 'filter with an empty value',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?filter=colour:',
      request: {},
      status: 400,
      code: 'INVALID_FILTER',
    });
    add({
      name: 'filter with a bad field name',
      template: '/v1/items/{id}/similar',
      path: `/v1/items/item-1/similar?filter=${encodeURIComponent('col our:red')}`,
      request: {},
      status: 400,
      code: 'INVALID_FILTER',
    });
    add({
      name: 'filter on an unknown field',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?filter=brand:acme',
      request: {},
      status: 400,
      code: 'UNKNOWN_FILTER_FIELD',
    });
    add({
      name: 'filter as broken JSON',
      template: '/v1/items/{id}/similar',
      path: `/v1/items/item-1/similar?filter=${encodeURIComponent('{"colour":')}`,
      request: {},
      status: 400,
      code: 'INVALID_FILTER',
    });
    add({
      name: 'filter object with a nested value',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageBase64: good.toString('base64'), filter: { colour: { $ne: 'red' } } }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });

    // --- image references
    add({
      name: 'bad base64',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageBase64: '!!!not base64!!!' }),
      status: 400,
      code: 'SOURCE_BAD_BASE64',
    });
    add({
      name: 'base64 of a text file',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageBase64: text.toString('base64') }),
      status: 415,
      code: 'SOURCE_NOT_IMAGE',
    });
    add({
      name: 'SSRF: loopback URL',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageUrl: loopbackUrl }),
      status: 400,
      code: 'SOURCE_BLOCKED_ADDRESS',
    });
    add({
      name: 'SSRF: cloud metadata URL',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageUrl: 'http://169.254.169.254/latest/meta-data/' }),
      status: 400,
      code: 'SOURCE_BLOCKED_ADDRESS',
    });
    add({
      name: 'SSRF: IPv6 loopback',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageUrl: 'http://[::1]:6379/' }),
      status: 400,
      code: 'SOURCE_BLOCKED_ADDRESS',
    });
    add({
      name: 'file:// URL',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageUrl: 'file:///etc/passwd' }),
      status: 400,
      code: 'SOURCE_BAD_URL',
    });
    add({
      name: 'imagePath escaping the catalogue root',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imagePath: '../../etc/passwd' }),
      status: 400,
      code: 'SOURCE_PATH_OUTSIDE_ROOT',
    });
    add({
      name: 'two image references',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ imageUrl: 'https://example.com/a.jpg', imageBase64: good.toString('base64') }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'no image reference',
      template: '/v1/similar',
      path: '/v1/similar',
      request: post({ k: 3 }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });

    // --- catalogue writes and ids
    add({
      name: 'upsert: nested metadata',
      template: '/v1/items',
      path: '/v1/items',
      request: post({ items: [{ id: 'a', imageUrl: 'https://e.com/a.jpg', metadata: { tags: { a: 1 } } }] }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'upsert: internal metadata key (_source)',
      template: '/v1/items',
      path: '/v1/items',
      request: post({
        items: [{ id: 'a', imageUrl: 'https://e.com/a.jpg', metadata: { _source: 'path:../../etc/passwd' } }],
      }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'filter on an internal field',
      template: '/v1/items/{id}/similar',
      path: '/v1/items/item-1/similar?filter=_source:x',
      request: {},
      status: 400,
      code: 'INVALID_FILTER',
    });
    add({
      name: 'upsert: id with spaces',
      template: '/v1/items',
      path: '/v1/items',
      request: post({ items: [{ id: 'a b', imageUrl: 'https://e.com/a.jpg' }] }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'upsert: numeric id',
      template: '/v1/items',
      path: '/v1/items',
      request: post({ items: [{ id: 42, imageUrl: 'https://e.com/a.jpg' }] }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'upsert: no items',
      template: '/v1/items',
      path: '/v1/items',
      request: post({ items: [] }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'upsert: 501 items',
      template: '/v1/items',
      path: '/v1/items',
      request: post({
        items: Array.from({ length: 501 }, (_, i) => ({ id: `i${i}`, imageUrl: 'https://e.com/a.jpg' })),
      }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'upsert: item without image',
      template: '/v1/items',
      path: '/v1/items',
      request: post({ items: [{ id: 'a', metadata: {} }] }),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'item id too long',
      template: '/v1/items/{id}',
      path: `/v1/items/${'x'.repeat(129)}`,
      request: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    add({
      name: 'job id with bad characters',
      template: '/v1/jobs/{jobId}',
      path: '/v1/jobs/a%20b',
      request: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    });

    expect(cases.length).toBeGreaterThanOrEqual(20);
    const outcomes: string[] = [];
    for (const c of cases) {
      let response: HttpResponse;
      try {
        response = await httpRequest(url, c.path, c.request);
      } catch (err) {
        outcomes.push(`${c.name}: request failed: ${String(err)}`);
        continue;
      }
      const body = response.body;
      const problem = response.headers['content-type']?.startsWith('application/problem+json')
        ? (JSON.parse(body) as { code?: string; status?: number })
        : undefined;
      const ok =
        response.statusCode === c.status &&
        problem?.code === c.code &&
        problem.status === c.status &&
        !/\bat .+:\d+:\d+\)?/.test(body) && // no stack frames
        !body.includes('/work/') &&
        !body.includes('node_modules');
      if (!ok)
        outcomes.push(
          `${c.name}: expected ${c.status} ${c.code}, got ${response.statusCode} ${body.slice(0, 300)}`,
        );
      else contract.check(c.request.method ?? 'GET', c.template, response);
    }
    expect(outcomes).toEqual([]);
  }, 120_000);

  test('the server still serves after all of that', async () => {
    expect((await httpRequest(url, '/healthz')).statusCode).toBe(200);
    const byImage = await httpRequest(url, '/v1/similar', {
      method: 'POST',
      json: { imageBase64: good.toString('base64'), k: 3, filter: 'size:1|2|3' },
    });
    expect(byImage.statusCode).toBe(200);
    const results = byImage.json().results as Array<{ id: string; score: number }>;
    expect(results[0]?.id).toBe('item-1');
    expect(results[0]?.score).toBeGreaterThan(0.99);
    const byId = await httpRequest(url, '/v1/items/item-2/similar?k=2');
    expect(byId.statusCode).toBe(200);
  });
});
