/**
 * ingestBatch: a POST /v1/events body from bytes to the stream, on the real Redis (REDIS_URL) under
 * a prefix of its own.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { InProcessEventIngestor, RedisEventLog, type IngestRequest } from '../src';
import { event } from './fixtures';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NOW = Date.parse('2026-12-07T12:00:00.000Z');
const WINDOW = { maxAgeMs: 24 * 3600_000, maxFutureMs: 300_000 };

let redis: Redis;
let prefix: string;
let ingestor: InProcessEventIngestor;
let log: RedisEventLog;

beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  prefix = `lookalike-test-ingest-${randomUUID()}`;
  log = new RedisEventLog({ connection: redis, prefix, maxLength: 10_000, dedupeTtlSeconds: 3600 });
  ingestor = new InProcessEventIngestor(log);
});

afterEach(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const bytes = (text: string): IngestRequest => ({
  body: new Uint8Array(Buffer.from(text)),
  receivedAt: NOW,
  window: WINDOW,
});
const json = (body: unknown) => bytes(JSON.stringify(body));

test('bytes in: valid events stored, bad ones listed with pointers and counted by reason', async () => {
  const goodId = randomUUID();
  const outcome = await ingestor.ingest(
    json({
      events: [
        event(goodId),
        event(randomUUID(), { position: -1 }),
        event(randomUUID(), { timestamp: '2026-12-01T00:00:00.000Z' }),
      ],
    }),
  );
  expect(outcome).toMatchObject({ kind: 'stored', accepted: 1, duplicates: 0 });
  if (outcome.kind !== 'stored') throw new Error('unreachable');
  expect(outcome.rejections.map((r) => [r.index, r.code, r.path])).toEqual([
    [1, 'EVENT_INVALID', '/events/1/position'],
    [2, 'TIMESTAMP_TOO_OLD', '/events/2/timestamp'],
  ]);
  expect(outcome.rejections[0]?.eventId).toMatch(/^[0-9a-f-]{36}$/);
  expect(outcome.rejectedByReason).toEqual({ invalid: 1, too_old: 1 });
  expect((await log.read()).map((e) => e.eventId)).toEqual([goodId]);
});

test('a replayed body is stored once', async () => {
  const body = json({ events: [event(randomUUID()), event(randomUUID())] });
  expect(await ingestor.ingest(body)).toMatchObject({ kind: 'stored', accepted: 2, duplicates: 0 });
  expect(await ingestor.ingest(body)).toMatchObject({ kind: 'stored', accepted: 0, duplicates: 2 });
  expect(await log.length()).toBe(2);
});

test('not JSON, prototype poisoning, a wrong envelope and no valid event: nothing stored', async () => {
  expect(await ingestor.ingest(bytes('{"events": ['))).toEqual({ kind: 'unparsable' });
  expect(
    await ingestor.ingest(
      bytes(`{"events": [${JSON.stringify(event(randomUUID()))}], "__proto__": {"x": 1}}`),
    ),
  ).toEqual({ kind: 'unparsable' });
  expect(await ingestor.ingest(json({ events: [] }))).toEqual({
    kind: 'malformed',
    path: '/events',
    message: 'must hold 1–100 events',
  });
  expect(await ingestor.ingest(json([1]))).toMatchObject({ kind: 'malformed', path: '' });
  const none = await ingestor.ingest(
    json({ events: [event(randomUUID(), { position: -1 }), { type: 'view' }] }),
  );
  expect(none).toMatchObject({ kind: 'none-valid', rejectedByReason: { invalid: 2 } });
  expect(await log.length()).toBe(0);
});

test('an unreachable Redis rejects (the API answers 503); a parsed body is taken as it is', async () => {
  const closed = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
  const down = new InProcessEventIngestor(
    new RedisEventLog({ connection: closed, prefix, maxLength: 100, dedupeTtlSeconds: 60 }),
  );
  closed.disconnect();
  await expect(down.ingest(json({ events: [event(randomUUID())] }))).rejects.toThrow();
  const parsed = await ingestor.ingest({
    body: { events: [event(randomUUID())] },
    receivedAt: NOW,
    window: WINDOW,
  });
  expect(parsed).toMatchObject({ kind: 'stored', accepted: 1 });
});
