import { CropError } from '@lookalike/embedder';
import { FAKE_MODEL, multipartBody } from '../../helpers';
import type { RoutesOverFakes } from '../harness';

/** Route tests of similar (run by test/routes.test.ts, which checks contract coverage). */
export function similarRouteTests(h: RoutesOverFakes): void {
  const { call, json } = h;
  test('POST /v1/similar (JSON base64) ranks the identical image first, best first', async () => {
    h.loadCatalogue(2);
    const response = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: h.red.toString('base64'), k: 3 },
    });
    expect(response.statusCode).toBe(200);
    const body = json(response) as {
      indexVersion: number;
      model: string;
      results: Array<{ id: string; score: number }>;
    };
    expect(body.indexVersion).toBe(2);
    expect(body.model).toBe(FAKE_MODEL.id);
    expect(body.results.map((r) => r.id)[0]).toBe('red-shirt');
    expect(body.results[0]?.score).toBeCloseTo(1, 5);
    const scores = body.results.map((r) => r.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  test('POST /v1/similar (multipart upload) with k, filter and minScore fields', async () => {
    h.loadCatalogue(2);
    const form = multipartBody([
      { name: 'k', value: '5' },
      { name: 'filter', value: 'kind:shirt' },
      { name: 'minScore', value: '-1' },
      { name: 'image', filename: 'q.png', contentType: 'image/png', data: h.green },
    ]);
    const response = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      headers: { 'content-type': form.contentType },
      body: form.body,
    });
    expect(response.statusCode).toBe(200);
    const ids = (json(response).results as Array<{ id: string }>).map((r) => r.id);
    expect(ids).toEqual(['green-shirt', 'red-shirt']);
  });

  test('POST /v1/similar hands a crop to the embedder: a JSON object, or the form field x,y,w,h', async () => {
    h.loadCatalogue(2);
    const json = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: h.red.toString('base64'), crop: { x: 0.1, y: 0, w: 0.5, h: 1 } },
    });
    expect(json.statusCode).toBe(200);
    const form = multipartBody([
      { name: 'crop', value: '0,.25,1,0.75' },
      { name: 'image', filename: 'q.png', contentType: 'image/png', data: h.green },
    ]);
    const upload = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      headers: { 'content-type': form.contentType },
      body: form.body,
    });
    expect(upload.statusCode).toBe(200);
    const plain = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: h.red.toString('base64') },
    });
    expect(plain.statusCode).toBe(200);
    expect(h.t.embedder.options).toEqual([
      { crop: { x: 0.1, y: 0, w: 0.5, h: 1 } },
      { crop: { x: 0, y: 0.25, w: 1, h: 0.75 } },
      {},
    ]);
  });

  test('POST /v1/similar: a crop the embedder cannot apply is 400 INVALID_CROP, not a server error', async () => {
    h.loadCatalogue(2);
    h.t.embedder.embed = async () => {
      throw new CropError('crop covers 4×64 pixels of the 64×64 image; each side must be at least 8');
    };
    const response = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: h.red.toString('base64'), crop: { x: 0, y: 0, w: 0.07, h: 1 } },
    });
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ code: 'INVALID_CROP', status: 400 });
    expect(String(json(response).detail)).toContain('at least 8');
  });

  test('POST /v1/similar: a crop outside the image is refused before any inference, naming the field', async () => {
    h.loadCatalogue(2);
    const response = await call(h.t, '/v1/similar', {
      method: 'POST',
      url: '/v1/similar',
      json: { imageBase64: h.red.toString('base64'), crop: { x: 0.7, y: 0, w: 0.5, h: 1 } },
    });
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ code: 'INVALID_CROP', errors: [{ path: '/body/crop' }] });
    expect(h.t.embedder.calls).toBe(0);
  });

  test('filters: compact any-of, numbers typed as text, JSON object form', async () => {
    h.loadCatalogue(2);
    const search = async (filter: unknown) => {
      const response = await call(h.t, '/v1/similar', {
        method: 'POST',
        url: '/v1/similar',
        json: { imageBase64: h.red.toString('base64'), filter },
      });
      expect(response.statusCode).toBe(200);
      return (json(response).results as Array<{ id: string }>).map((r) => r.id).sort();
    };
    expect(await search('colour:red|blue')).toEqual(['blue-shoe', 'red-shirt']);
    expect(await search('year:2012,kind:shoe')).toEqual(['blue-shoe']);
    expect(await search({ year: 2013 })).toEqual(['green-shirt']);
    expect(await search({ colour: ['green', 'blue'] })).toEqual(['blue-shoe', 'green-shirt']);
    expect(await search('{"kind":"shirt"}')).toEqual(['green-shirt', 'red-shirt']);
  });

  test('GET /v1/items/{id}/similar uses the stored vector and leaves the item out', async () => {
    h.loadCatalogue(5);
    const response = await call(h.t, '/v1/items/{id}/similar', {
      method: 'GET',
      url: '/v1/items/red-shirt/similar?k=10&filter=kind:shirt',
    });
    expect(response.statusCode).toBe(200);
    expect(json(response)).toMatchObject({ indexVersion: 5, results: [{ id: 'green-shirt' }] });
    expect(h.t.embedder.calls).toBe(0);

    const missing = await call(h.t, '/v1/items/{id}/similar', {
      method: 'GET',
      url: '/v1/items/nope/similar',
    });
    expect(missing.statusCode).toBe(404);
    expect(json(missing).code).toBe('ITEM_NOT_FOUND');
  });
}
