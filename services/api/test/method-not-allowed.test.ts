/** A known path asked with a method it does not answer: 405 + Allow, problem+json. Real HTTP. */
import { buildTestApp, type TestApp } from './helpers';

const WRONG_METHODS: Array<{ method: string; path: string; allow: string }> = [
  { method: 'PUT', path: '/v1/similar', allow: 'POST' },
  { method: 'GET', path: '/v1/similar', allow: 'POST' },
  { method: 'DELETE', path: '/v1/index', allow: 'GET, HEAD' },
  { method: 'POST', path: '/v1/items/x/similar', allow: 'GET, HEAD' },
  { method: 'PATCH', path: '/v1/items/x', allow: 'DELETE, GET, HEAD' },
  { method: 'PUT', path: '/v1/items', allow: 'GET, HEAD, POST' },
  { method: 'DELETE', path: '/v1/jobs/j-1', allow: 'GET, HEAD' },
  { method: 'POST', path: '/healthz?probe=1', allow: 'GET, HEAD' },
];

describe('wrong method on a known path', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => {
    await t.app.close();
  });

  test.each(WRONG_METHODS)('$method $path → 405, Allow: $allow', async ({ method, path, allow }) => {
    const response = await t.request(path, { method });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe(allow);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
      title: 'Method Not Allowed',
      instance: path.split('?')[0],
    });
  });

  test('HEAD on a POST-only path is 405 too (no body, same Allow)', async () => {
    const response = await t.request('/v1/similar', { method: 'HEAD' });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('POST');
  });

  test.each([
    ['PUT', '/v1/nothing'],
    ['GET', '/v1/items/x/y/z'],
    ['DELETE', '/v2/items/x'],
  ])('%s %s (no such path) stays 404 ROUTE_NOT_FOUND without Allow', async (method, path) => {
    const response = await t.request(path, { method });
    expect(response.statusCode).toBe(404);
    expect(response.headers.allow).toBeUndefined();
    expect(response.json()).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
  });
});
