/**
 * Requests the router or Node refuse before any route runs still answer problem+json with a code
 * from the documented list (STATUS_BY_CODE, rendered into the OpenAPI description). Real HTTP.
 */
import net from 'node:net';
import { STATUS_BY_CODE } from '../src/errors';
import { buildTestApp, type HttpResponse, type RequestOptions, type TestApp } from './helpers';

const MAX_BODY_BYTES = 64 * 1024;

interface HostileCase {
  name: string;
  path: string;
  options?: RequestOptions;
  status: number;
  code: string;
}

const CASES: HostileCase[] = [
  { name: 'a 10 KB item id', path: `/v1/items/${'a'.repeat(10_240)}`, status: 414, code: 'ID_TOO_LONG' },
  {
    name: 'a 10 KB item id on a sub-resource',
    path: `/v1/items/${'a'.repeat(10_240)}/similar`,
    status: 414,
    code: 'ID_TOO_LONG',
  },
  { name: 'a path that is not percent-encoding', path: '/v1/items/%ZZ', status: 400, code: 'BAD_URL' },
  { name: 'a job id that is not percent-encoding', path: '/v1/jobs/%E0%A4%A', status: 400, code: 'BAD_URL' },
  {
    name: 'invalid JSON',
    path: '/v1/similar',
    options: { method: 'POST', body: '{"imageUrl":', headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'an empty JSON body',
    path: '/v1/similar',
    options: { method: 'POST', body: '', headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'a wrong content-type',
    path: '/v1/items',
    options: { method: 'POST', body: 'items', headers: { 'content-type': 'text/plain' } },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a body over MAX_BODY_BYTES',
    path: '/v1/items',
    options: { method: 'POST', json: { items: [{ id: 'a', imageBase64: 'A'.repeat(MAX_BODY_BYTES * 2) }] } },
    status: 413,
    code: 'BODY_TOO_LARGE',
  },
  { name: 'an unknown route', path: '/v1/nothing-here', status: 404, code: 'ROUTE_NOT_FOUND' },
  {
    name: 'a 4 KB query string of unknown parameters',
    path: `/v1/items?${'x'.repeat(4096)}=1`,
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'a 64 KB query string',
    path: `/v1/items?filter=${'x'.repeat(65_536)}`,
    status: 431,
    code: 'HEADERS_TOO_LARGE',
  },
  {
    name: 'a 64 KB header',
    path: '/v1/index',
    options: { headers: { 'x-padding': 'x'.repeat(65_536) } },
    status: 431,
    code: 'HEADERS_TOO_LARGE',
  },
];

/** Bytes written straight to the socket (for what no HTTP client will send), the reply read to its end. */
function rawRequest(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no reply')));
  });
}

function expectDocumentedProblem(response: HttpResponse, status: number, code: string): void {
  expect({ status: response.statusCode, code: response.json().code }).toEqual({ status, code });
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(STATUS_BY_CODE[code]).toBe(status);
  expect(response.json()).toMatchObject({
    status,
    type: `urn:lookalike:problem:${code.toLowerCase().replace(/_/g, '-')}`,
  });
  expect(typeof response.json().detail).toBe('string');
  expect(response.headers['x-request-id']).toBe(response.json().requestId);
}

describe('hostile requests answer documented problem+json', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
  });
  afterAll(async () => {
    await t.app.close();
  });

  test.each(CASES)('$name → $status $code', async ({ path, options, status, code }) => {
    expectDocumentedProblem(await t.request(path, options), status, code);
  });

  test('the 414 detail does not echo the 10 KB id', async () => {
    const response = await t.request(`/v1/items/${'a'.repeat(10_240)}`);
    expect(String(response.json().detail).length).toBeLessThan(200);
  });

  test('malformed HTTP → 400 BAD_REQUEST as problem+json on the socket, and the server carries on', async () => {
    const reply = await rawRequest(t.url, 'NOT HTTP AT ALL\r\n\r\n');
    const [head = '', body = ''] = reply.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(body)).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    expect((await t.request('/healthz')).statusCode).toBe(200);
  });
});
