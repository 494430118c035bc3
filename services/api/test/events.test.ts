/**
 * POST /v1/events over real HTTP with the real RedisEventLog on the shared Redis (REDIS_URL), each
 * test under a key prefix of its own, deleted afterwards: the keys, partial acceptance, replays,
 * the events as they are in the stream, the rate limit of its own, and Redis down.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { ConfigError } from '@lookalike/config';
import { RedisEventLog } from '@lookalike/events';
import { closeRedisConnection, createRedisConnection } from '@lookalike/queue';
import type { Redis } from 'ioredis';
import { eventDedupeTtlSeconds, loadConfig } from '../src/config';
import { openWritesWarning } from '../src/server';
import { ContractChecker, buildTestApp, redisUrl, shopperEvent, testConfig, type TestApp } from './helpers';

const API_KEY = 'write-key-0123456789abcdef';
const EVENTS_KEY = 'events-key-0123456789abcdef';
const contract = new ContractChecker();

interface Harness {
  t: TestApp;
  log: RedisEventLog;
  prefix: string;
}
const open: Array<{ t: TestApp; connection: Redis; prefix: string }> = [];

/** The app with a RedisEventLog as server.ts wires it (QUEUE_PREFIX, MAXLEN, dedupe TTL from config). */
async function appWithEventLog(env: Record<string, string> = {}, url = redisUrl): Promise<Harness> {
  const prefix = `lookalike-test-api-events-${randomUUID()}`;
  const config = testConfig({ QUEUE_PREFIX: prefix, REDIS_TIMEOUT_MS: '500', ...env });
  const connection = createRedisConnection(url, 'queue');
  connection.on('error', () => undefined);
  const log = new RedisEventLog({
    connection,
    prefix,
    maxLength: config.EVENTS_STREAM_MAXLEN,
    dedupeTtlSeconds: eventDedupeTtlSeconds(config),
    readyTimeoutMs: config.REDIS_TIMEOUT_MS,
  });
  const t = await buildTestApp({ QUEUE_PREFIX: prefix, REDIS_TIMEOUT_MS: '500', ...env }, { events: log });
  open.push({ t, connection, prefix });
  return { t, log, prefix };
}

afterEach(async () => {
  for (const { t, connection, prefix } of open.splice(0)) {
    await t.app.close();
    if (connection.status === 'ready') {
      const keys = await connection.keys(`${prefix}:*`);
      if (keys.length > 0) await connection.del(...keys);
    }
    await closeRedisConnection(connection);
  }
});

const post = async (t: TestApp, body: unknown, key?: string) => {
  const response = await t.request('/v1/events', {
    method: 'POST',
    json: body,
    ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
  });
  contract.check('POST', '/v1/events', response);
  return response;
};

describe('with API_KEY and EVENTS_KEY', () => {
  test('the events key and the write key post events; no key or a wrong one is 401; the events key allows nothing else', async () => {
    const { t, log } = await appWithEventLog({ API_KEY, EVENTS_KEY });
    const byEventsKey = await post(t, { events: [shopperEvent('k-1')] }, EVENTS_KEY);
    expect(byEventsKey.statusCode).toBe(202);
    const byWriteKey = await post(t, { events: [shopperEvent('k-2')] }, API_KEY);
    expect(byWriteKey.statusCode).toBe(202);

    const anonymous = await post(t, { events: [shopperEvent('k-3')] });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(anonymous.json()).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await post(t, { events: [shopperEvent('k-4')] }, `${EVENTS_KEY}x`);
    expect(wrong.statusCode).toBe(401);

    // A shop page holds the events key: it must not write the catalogue.
    const write = await t.request('/v1/reindex', {
      method: 'POST',
      headers: { authorization: `Bearer ${EVENTS_KEY}` },
    });
    expect(write.statusCode).toBe(401);
    expect(t.queue.jobs.size).toBe(0);

    expect((await log.read()).map((event) => event.eventId)).toEqual(['k-1', 'k-2']);
  });

  test('a replayed batch is stored once; the stream holds the events as posted', async () => {
    const { t, log } = await appWithEventLog({ API_KEY, EVENTS_KEY });
    const queryId = '01938c6e-5a2b-7c3d-8e4f-0a1b2c3d4e5f';
    const timestamp = new Date(Date.now() - 60_000).toISOString();
    const batch = {
      events: [
        shopperEvent('r-1', { type: 'impression', context: { queryId }, position: 4, timestamp }),
        shopperEvent('r-2', { type: 'add_to_cart', itemId: 'sku-9', timestamp }),
      ],
    };
    const before = Date.now();
    const first = await post(t, batch, EVENTS_KEY);
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ accepted: 2, duplicates: 0, rejected: 0, rejections: [] });
    const replay = await post(t, batch, EVENTS_KEY);
    expect(replay.statusCode).toBe(202);
    expect(replay.json()).toEqual({ accepted: 0, duplicates: 2, rejected: 0, rejections: [] });

    const stored = await log.read();
    expect(stored).toEqual([
      {
        streamId: expect.stringMatching(/^\d+-\d+$/),
        eventId: 'r-1',
        type: 'impression',
        itemId: 'green-shirt',
        context: { queryId },
        position: 4,
        timestamp,
        sessionId: 's_route_test_1',
        receivedAt: expect.any(String),
      },
      expect.objectContaining({
        eventId: 'r-2',
        type: 'add_to_cart',
        itemId: 'sku-9',
        context: { sourceItemId: 'red-shirt' },
      }),
    ]);
    expect(Date.parse(stored[0]?.receivedAt ?? '')).toBeGreaterThanOrEqual(before - 1);

    const metrics = (await t.request('/metrics')).body;
    expect(metrics).toMatch(/^lookalike_events_accepted_total 2$/m);
    expect(metrics).toMatch(/^lookalike_events_duplicate_total 2$/m);
  });

  test('a bad event alone: 400 problem+json with its code and path, nothing stored, counted', async () => {
    const { t, log } = await appWithEventLog({ API_KEY, EVENTS_KEY });
    const response = await post(
      t,
      { events: [shopperEvent('b-1', { sessionId: 'jane.doe@example.com' })] },
      EVENTS_KEY,
    );
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({
      status: 400,
      code: 'EVENTS_REJECTED',
      type: 'urn:lookalike:problem:events-rejected',
      errors: [{ path: '/body/events/0/sessionId' }],
    });
    expect(await log.length()).toBe(0);
    expect((await t.request('/metrics')).body).toMatch(
      /^lookalike_events_rejected_total\{reason="invalid"\} 1$/m,
    );
  });
});

describe('auth without EVENTS_KEY', () => {
  test('API_KEY only: events need it, as writes do', async () => {
    const { t } = await appWithEventLog({ API_KEY });
    expect((await post(t, { events: [shopperEvent('a-1')] })).statusCode).toBe(401);
    expect((await post(t, { events: [shopperEvent('a-1')] }, API_KEY)).statusCode).toBe(202);
  });

  test('no key at all: events are open, as writes are', async () => {
    const { t } = await appWithEventLog();
    expect((await post(t, { events: [shopperEvent('o-1')] })).statusCode).toBe(202);
  });

  test('the start-up warning about open writes names events only while they are open', () => {
    expect(openWritesWarning(loadConfig({ HOST: '0.0.0.0' }))).toContain('POST /v1/events');
    expect(openWritesWarning(loadConfig({ HOST: '0.0.0.0', EVENTS_KEY }))).not.toContain('/v1/events');
    expect(openWritesWarning(loadConfig({ HOST: '0.0.0.0', EVENTS_KEY }))).toContain('POST /v1/reindex');
  });

  test('EVENTS_KEY equal to API_KEY is refused at start', () => {
    expect(() => loadConfig({ API_KEY, EVENTS_KEY: API_KEY })).toThrow(ConfigError);
    expect(() => loadConfig({ API_KEY, EVENTS_KEY: API_KEY })).toThrow(
      /EVENTS_KEY: must differ from API_KEY/,
    );
  });
});

test.each([
  ['the global one off', '0'],
  ['the global one on', '100'],
])('events have a rate limit of their own, with %s', async (_name, globalMax) => {
  const { t } = await appWithEventLog({
    RATE_LIMIT_MAX: globalMax,
    EVENTS_RATE_LIMIT_MAX: '3',
    EVENTS_RATE_LIMIT_WINDOW: '1m',
  });
  for (let i = 0; i < 3; i++) {
    const response = await post(t, { events: [shopperEvent(`l-${i}`)] });
    expect(response.statusCode).toBe(202);
    expect(response.headers['x-ratelimit-limit']).toBe('3');
  }
  const limited = await post(t, { events: [shopperEvent('l-3')] });
  expect(limited.statusCode).toBe(429);
  expect(limited.json()).toMatchObject({
    code: 'RATE_LIMITED',
    detail: 'Rate limit of 3 requests per 1 minute exceeded',
  });
  expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  // Other routes keep their own budget: none with RATE_LIMIT_MAX=0, the global one otherwise.
  for (let i = 0; i < 5; i++) expect((await t.request('/v1/index')).statusCode).toBe(503);
  const other = await t.request('/v1/index');
  if (globalMax === '0') expect(other.headers['x-ratelimit-limit']).toBeUndefined();
  else {
    expect(other.headers['x-ratelimit-limit']).toBe('100');
    expect(other.headers['x-ratelimit-remaining']).toBe('94');
  }
});

test('Redis down: 503 QUEUE_UNAVAILABLE with Retry-After, promptly', async () => {
  const port = await new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
  const { t } = await appWithEventLog({}, `redis://127.0.0.1:${port}`);
  const started = Date.now();
  const response = await post(t, { events: [shopperEvent('d-1')] });
  expect(response.statusCode).toBe(503);
  expect(response.json()).toMatchObject({ code: 'QUEUE_UNAVAILABLE', retryAfter: 5 });
  expect(response.headers['retry-after']).toBe('5');
  expect(Date.now() - started).toBeLessThan(3000);
});
