import { createHash } from 'node:crypto';
import { keyMatches } from '../src/plugins/auth';
import { ContractChecker, buildTestApp, type TestApp } from './helpers';

const KEY = 'test-key-0123456789abcdef';
const contract = new ContractChecker();

describe('API key on write routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ API_KEY: KEY });
  });
  afterAll(async () => {
    await t.app.close();
  });

  const writes = [
    {
      method: 'POST',
      path: '/v1/items',
      template: '/v1/items',
      json: { items: [{ id: 'a', imageUrl: 'https://e.com/a.jpg' }] },
    },
    { method: 'DELETE', path: '/v1/items/a', template: '/v1/items/{id}' },
    { method: 'POST', path: '/v1/reindex', template: '/v1/reindex' },
  ];

  test.each(writes)('$method $path without the key → 401 problem, with it → 202', async (write) => {
    const anonymous = await t.request(write.path, { method: write.method, json: write.json });
    contract.check(write.method, write.template, anonymous);
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(anonymous.json()).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });

    const wrong = await t.request(write.path, {
      method: write.method,
      json: write.json,
      headers: { authorization: `Bearer ${KEY}x` },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().detail).toBe('The API key is wrong');

    const allowed = await t.request(write.path, {
      method: write.method,
      json: write.json,
      headers: { authorization: `Bearer ${KEY}` },
    });
    contract.check(write.method, write.template, allowed);
    expect(allowed.statusCode).toBe(202);
  });

  test('nothing is queued by a refused write', async () => {
    const before = t.queue.jobs.size;
    await t.request('/v1/reindex', { method: 'POST', headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(t.queue.jobs.size).toBe(before);
  });

  test('reads and ops stay open unless API_KEY_READS', async () => {
    expect((await t.request('/v1/index')).statusCode).toBe(503); // no snapshot, but not 401
    expect((await t.request('/v1/jobs/1')).statusCode).not.toBe(401);
    expect((await t.request('/healthz')).statusCode).toBe(200);
  });
});

describe('API key on reads too (API_KEY_READS=true)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ API_KEY: KEY, API_KEY_READS: 'true' });
  });
  afterAll(async () => {
    await t.app.close();
  });

  test('read routes need the key; health, readiness and metrics do not', async () => {
    for (const path of ['/v1/index', '/v1/items/a', '/v1/items/a/similar', '/v1/jobs/1']) {
      const response = await t.request(path);
      expect([path, response.statusCode]).toEqual([path, 401]);
    }
    const search = await t.request('/v1/similar', {
      method: 'POST',
      json: { imageUrl: 'https://e.com/x.jpg' },
    });
    expect(search.statusCode).toBe(401);
    const authorised = await t.request('/v1/index', { headers: { authorization: `bearer ${KEY}` } });
    expect(authorised.statusCode).toBe(503); // past auth: no snapshot yet
    expect((await t.request('/healthz')).statusCode).toBe(200);
    expect((await t.request('/metrics')).statusCode).toBe(200);
    expect([200, 503]).toContain((await t.request('/readyz')).statusCode);
  });
});

describe('keyMatches', () => {
  const expected = createHash('sha256').update(KEY).digest();
  test('accepts only the exact bearer key', () => {
    expect(keyMatches(expected, `Bearer ${KEY}`)).toBe(true);
    expect(keyMatches(expected, `bearer ${KEY}`)).toBe(true);
    expect(keyMatches(expected, `Bearer ${KEY} `)).toBe(true);
    expect(keyMatches(expected, KEY)).toBe(false);
    expect(keyMatches(expected, `Bearer ${KEY.slice(0, -1)}`)).toBe(false);
    expect(keyMatches(expected, `Bearer ${KEY}${KEY}`)).toBe(false);
    expect(keyMatches(expected, 'Bearer ')).toBe(false);
    expect(keyMatches(expected, undefined)).toBe(false);
    expect(keyMatches(createHash('sha256').update('').digest(), 'Bearer')).toBe(false);
  });
});
