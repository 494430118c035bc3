/**
 * The event log on the real Redis (REDIS_URL, default 127.0.0.1:6379), each test under a prefix
 * of its own, every key it made deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisEventLog, eventKeys, newQueryId, parseStreamEntry, type ShopperEvent } from '../src';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let redis: Redis;
let prefix: string;

beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  prefix = `lookalike-test-events-${randomUUID()}`;
});

afterEach(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const log = (options: Partial<{ maxLength: number; dedupeTtlSeconds: number }> = {}) =>
  new RedisEventLog({ connection: redis, prefix, maxLength: 10_000, dedupeTtlSeconds: 3600, ...options });

function event(eventId: string, overrides: Partial<ShopperEvent> = {}): ShopperEvent {
  return {
    eventId,
    type: 'click',
    itemId: 'sku-2',
    context: { sourceItemId: 'sku-1' },
    position: 1,
    timestamp: '2026-12-07T11:30:00.5+02:00',
    sessionId: 's_abcdefgh',
    ...overrides,
  };
}

test('appends a batch; read back with every field, the timestamp normalised to UTC', async () => {
  const events = log();
  const queryId = newQueryId();
  const receivedAt = Date.parse('2026-12-07T09:31:00.000Z');
  const result = await events.append(
    [event('a'), event('b', { type: 'purchase', context: { queryId }, position: 0 })],
    receivedAt,
  );
  expect(result).toMatchObject({ accepted: 2, duplicates: 0 });
  expect(result.ids.every((id) => typeof id === 'string' && /^\d+-\d+$/.test(id))).toBe(true);

  const stored = await events.read();
  expect(stored).toEqual([
    {
      streamId: result.ids[0],
      eventId: 'a',
      type: 'click',
      itemId: 'sku-2',
      context: { sourceItemId: 'sku-1' },
      position: 1,
      timestamp: '2026-12-07T09:30:00.500Z',
      sessionId: 's_abcdefgh',
      receivedAt: '2026-12-07T09:31:00.000Z',
    },
    expect.objectContaining({ eventId: 'b', type: 'purchase', context: { queryId }, position: 0 }),
  ]);
  // The raw entry is what an indexer will XREAD: exactly one context field, format version 1.
  const entries = (await redis.xrange(eventKeys(prefix).stream, '-', '+')) as Array<[string, string[]]>;
  const fields = entries[0]?.[1] ?? [];
  expect(fields.filter((_, i) => i % 2 === 0)).toEqual([
    'v',
    'eventId',
    'type',
    'itemId',
    'sourceItemId',
    'position',
    'timestamp',
    'sessionId',
    'receivedAt',
  ]);
  expect(fields[1]).toBe('1');
});

test('a replayed batch is stored once, also when replayed through another log instance', async () => {
  const batch = [event('r1'), event('r2'), event('r3')];
  expect(await log().append(batch)).toMatchObject({ accepted: 3, duplicates: 0 });
  // A retry after a timeout: same ids, possibly on another API replica.
  const replay = await log().append(batch);
  expect(replay).toEqual({ accepted: 0, duplicates: 3, ids: [null, null, null] });
  // A partly new batch: only the new event is appended.
  expect(await log().append([event('r2'), event('r4')])).toMatchObject({ accepted: 1, duplicates: 1 });
  expect((await log().read()).map((e) => e.eventId)).toEqual(['r1', 'r2', 'r3', 'r4']);
  expect(await log().length()).toBe(4);
});

test('the same eventId twice within one batch is stored once', async () => {
  const result = await log().append([event('twice'), event('twice', { type: 'purchase' })]);
  expect(result).toMatchObject({ accepted: 1, duplicates: 1 });
  expect(result.ids[1]).toBeNull();
  expect((await log().read()).map((e) => e.type)).toEqual(['click']);
});

test('the dedupe key expires after its TTL (then the id may be stored again)', async () => {
  const events = log({ dedupeTtlSeconds: 1 });
  await events.append([event('ttl')]);
  const ttl = await redis.pttl(eventKeys(prefix).seen('ttl'));
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(1000);
  // The seen-key names the stream entry it guards.
  expect(await redis.get(eventKeys(prefix).seen('ttl'))).toBe((await events.read())[0]?.streamId);
});

test('MAXLEN holds: the stream stays near its bound and keeps the newest entries', async () => {
  const maxLength = 1000;
  const events = log({ maxLength });
  const total = 3000;
  for (let start = 0; start < total; start += 100) {
    const batch = Array.from({ length: 100 }, (_, i) => event(`m-${start + i}`));
    await events.append(batch);
  }
  const length = await events.length();
  // `MAXLEN ~` trims whole stream nodes (stream-node-max-entries, 100 by default): never below
  // the bound, never more than one node above it.
  expect(length).toBeGreaterThanOrEqual(maxLength);
  expect(length).toBeLessThanOrEqual(maxLength + 100);
  const stored = await events.read({ count: 5000 });
  expect(stored.at(-1)?.eventId).toBe(`m-${total - 1}`);
  expect(stored[0]?.eventId).not.toBe('m-0');
});

test('parseStreamEntry skips entries of unknown versions and malformed ones', () => {
  expect(parseStreamEntry('1-0', ['v', '2', 'eventId', 'x'])).toBeNull();
  expect(parseStreamEntry('1-0', ['v', '1', 'eventId', 'x'])).toBeNull();
  const both = [
    'v',
    '1',
    'eventId',
    'x',
    'type',
    'click',
    'itemId',
    'i',
    'sourceItemId',
    's',
    'queryId',
    'q',
  ];
  expect(
    parseStreamEntry('1-0', [
      ...both,
      'position',
      '1',
      'timestamp',
      't',
      'sessionId',
      's',
      'receivedAt',
      'r',
    ]),
  ).toBeNull();
});

test('a closed connection fails the append instead of hanging', async () => {
  const closed = new Redis(REDIS_URL, { lazyConnect: true });
  closed.disconnect();
  const events = new RedisEventLog({ connection: closed, prefix, maxLength: 1000, dedupeTtlSeconds: 60 });
  await expect(events.append([event('x')])).rejects.toThrow(/closed/);
});
