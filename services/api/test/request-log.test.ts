/**
 * Request logs: the app built with a real pino logger writing into memory (level debug, so probe
 * lines are seen at their level), real requests through Fastify. Each request gets exactly one
 * "request completed" line — at info, or at debug for /healthz, /readyz, /metrics and answered
 * POST /v1/events — carrying method,
 * route pattern, URL (redacted), status code and duration.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  FakeSnapshot,
  buildTestApp,
  fakeVector,
  shopperEvent,
  type RequestOptions,
  type TestApp,
} from './helpers';

interface LogLine {
  level: number;
  msg?: string;
  reqId?: string;
  [field: string]: unknown;
}

const INFO = 30;
const DEBUG = 20;

describe('request logs', () => {
  const lines: LogLine[] = [];
  let t: TestApp;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
          lines.push(JSON.parse(line) as LogLine);
        }
        done();
      },
    });
    t = await buildTestApp({}, {}, { logger: pino({ level: 'debug' }, sink) });
    t.snapshots.swap(new FakeSnapshot(1, [{ id: 'x', vector: fakeVector(Buffer.from('x')), metadata: {} }]));
  });
  afterAll(async () => {
    await t.app.close();
  });

  /** The lines of one request (by the request id the response carries). */
  async function linesOf(
    path: string,
    options?: RequestOptions,
  ): Promise<{ status: number; mine: LogLine[] }> {
    const response = await t.request(path, options);
    const requestId = response.headers['x-request-id'];
    expect(typeof requestId).toBe('string');
    return { status: response.statusCode, mine: lines.filter((line) => line.reqId === requestId) };
  }

  test.each([
    { path: '/v1/items/x', route: '/v1/items/:id', status: 200, code: undefined },
    { path: '/v1/items/nope', route: '/v1/items/:id', status: 404, code: 'ITEM_NOT_FOUND' },
    { path: '/v1/items/x/similar?k=2', route: '/v1/items/:id/similar', status: 200, code: undefined },
    { path: '/v1/no-such-route', route: 'unmatched', status: 404, code: 'ROUTE_NOT_FOUND' },
    { path: '/v1/items/%ZZ', route: 'unmatched', status: 400, code: 'BAD_URL' },
    { path: '/v1/similar', route: 'unmatched', status: 405, code: 'METHOD_NOT_ALLOWED', method: 'PUT' },
  ])('$path: exactly one info line with method, route, URL, status, duration', async (want) => {
    const method = want.method ?? 'GET';
    const { status, mine } = await linesOf(want.path, { method });
    expect(status).toBe(want.status);
    const info = mine.filter((line) => line.level >= INFO);
    expect(info).toEqual([
      expect.objectContaining({
        level: INFO,
        msg: 'request completed',
        method,
        route: want.route,
        url: want.path,
        statusCode: want.status,
        durationMs: expect.any(Number),
      }),
    ]);
    expect(info[0]?.code).toBe(want.code);
  });

  test.each(['/healthz', '/readyz', '/metrics'])('probe %s: logged at debug only', async (path) => {
    const { mine } = await linesOf(path);
    expect(mine.filter((line) => line.level >= INFO)).toEqual([]);
    expect(mine.filter((line) => line.msg === 'request completed')).toEqual([
      expect.objectContaining({ level: DEBUG, route: path, statusCode: expect.any(Number) }),
    ]);
  });

  test('POST /v1/events: accepted batches at debug, a refused one at info with its code', async () => {
    const event = shopperEvent('6f1c1f5e-4d0b-4b8e-9a57-2f7f0a9a3c11');
    const accepted = await linesOf('/v1/events', { method: 'POST', json: { events: [event] } });
    expect(accepted.status).toBe(202);
    expect(accepted.mine.filter((line) => line.level >= INFO)).toEqual([]);
    expect(accepted.mine.filter((line) => line.msg === 'request completed')).toEqual([
      expect.objectContaining({ level: DEBUG, route: '/v1/events', statusCode: 202 }),
    ]);
    const refused = await linesOf('/v1/events', { method: 'POST', json: { events: [] } });
    expect(refused.status).toBe(400);
    expect(refused.mine.filter((line) => line.level >= INFO)).toEqual([
      expect.objectContaining({
        level: INFO,
        route: '/v1/events',
        statusCode: 400,
        code: 'VALIDATION_FAILED',
      }),
    ]);
  });

  test('the line keeps secrets out of its URL', async () => {
    const { mine } = await linesOf('/v1/index?api_key=sk-in-the-query-1234&k=1');
    const info = mine.filter((line) => line.level >= INFO);
    expect(info).toHaveLength(1);
    expect(info[0]).toMatchObject({ route: '/v1/index', url: '/v1/index?api_key=[REDACTED]&k=1' });
    expect(JSON.stringify(mine)).not.toContain('sk-in-the-query-1234');
  });
});
