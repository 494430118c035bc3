/**
 * Credentials never reach the log: the app is built with a real pino logger writing into memory, real
 * HTTP requests carry a key in every form, and no line may contain one, while each request's route
 * and status are still there.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { redactSecretsInText } from '../src/log-redaction';
import { FakeSnapshot, buildTestApp, fakeVector, type RequestOptions, type TestApp } from './helpers';

const API_KEY = 'the-real-server-key-0123456789';

interface SecretCase {
  name: string;
  secret: string;
  path: string;
  options?: RequestOptions;
}

const CASES: SecretCase[] = [
  { name: '?api_key=', secret: 'sk-query-api-key-1111', path: '/v1/items?api_key=sk-query-api-key-1111' },
  {
    name: '?access_token= on a parameterised route',
    secret: 'at-query-2222',
    path: '/v1/items/x/similar?k=3&access_token=at-query-2222',
  },
  { name: '?key=', secret: 'key-query-3333', path: '/v1/index?key=key-query-3333' },
  {
    name: '?token= before another parameter',
    secret: 'tok-query-4444',
    path: '/v1/index?token=tok-query-4444&x=1',
  },
  { name: 'a percent-encoded name', secret: 'enc-query-5555', path: '/v1/nothing?API%5FKEY=enc-query-5555' },
  {
    name: 'on a wrong method (405)',
    secret: 'tok-405-6666',
    path: '/v1/similar?token=tok-405-6666',
    options: { method: 'PUT' },
  },
  {
    name: 'on a bad URL (router error)',
    secret: 'tok-badurl-7777',
    path: '/v1/items/%ZZ?api_key=tok-badurl-7777',
  },
  {
    name: 'a wrong Authorization header',
    secret: 'bearer-wrong-8888',
    path: '/v1/reindex',
    options: { method: 'POST', headers: { authorization: 'Bearer bearer-wrong-8888' } },
  },
  {
    name: 'the right Authorization header',
    secret: API_KEY,
    path: '/v1/items/gone',
    options: { method: 'DELETE', headers: { authorization: `Bearer ${API_KEY}` } },
  },
  {
    name: 'a signed image URL in a refused search body',
    secret: 'amz-signature-9999',
    path: '/v1/similar',
    options: {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
      json: { imageUrl: 'http://127.0.0.1:1/x.jpg?X-Amz-Signature=amz-signature-9999' },
    },
  },
];

interface LogEntry {
  msg?: string;
  reqId?: string;
  method?: string;
  url?: string;
  statusCode?: number;
}

describe('secrets never reach the log', () => {
  const lines: string[] = [];
  let t: TestApp;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    t = await buildTestApp({ API_KEY, API_KEY_READS: 'true' }, {}, { logger: pino({ level: 'info' }, sink) });
    // A catalogue, so searches get as far as fetching their image URL.
    t.snapshots.swap(new FakeSnapshot(1, [{ id: 'x', vector: fakeVector(Buffer.from('x')), metadata: {} }]));
  });
  afterAll(async () => {
    await t.app.close();
  });

  test.each(CASES)('$name', async ({ secret, path, options }) => {
    const before = lines.length;
    const response = await t.request(path, options);
    const requestId = response.headers['x-request-id'];
    const written = lines.slice(before);
    expect(written.length).toBeGreaterThan(0);
    for (const line of written) expect(line).not.toContain(secret);

    const entries = written.map((line) => JSON.parse(line) as LogEntry);
    const mine = entries.filter((entry) => entry.reqId === requestId);
    // The request's one line (plugins/request-log), router errors (a bad URL) included.
    const completed = mine.filter((entry) => entry.msg === 'request completed');
    expect(completed).toHaveLength(1);
    // The route and the outcome are still logged; only the secret is gone.
    expect(completed[0]).toMatchObject({ method: options?.method ?? 'GET', statusCode: response.statusCode });
    expect(String(completed[0]?.url).split('?')[0]).toBe(path.split('?')[0]);
    if (path.includes('?')) expect(completed[0]?.url).toContain('=[REDACTED]');
  });

  test('the rewrite keeps everything but secret values', () => {
    expect(redactSecretsInText('/v1/items?k=5&api_key=abc&filter=key:x')).toBe(
      '/v1/items?k=5&api_key=[REDACTED]&filter=key:x',
    );
    expect(redactSecretsInText('fetch https://cdn.example/a.jpg?Token=t1&w=2 failed')).toBe(
      'fetch https://cdn.example/a.jpg?Token=[REDACTED]&w=2 failed',
    );
    expect(redactSecretsInText('/v1/items?monkey=1&keys=2')).toBe('/v1/items?monkey=1&keys=2');
  });
});
