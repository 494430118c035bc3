/**
 * The event log on the real Redis (REDIS_URL, default 127.0.0.1:6379), each test under a prefix
 * of its own, every key it made deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  DEDUPE_SLICE_MS,
  RedisEventLog,
  RedisEventStream,
  dedupeSliceOf,
  eventKeys,
  newQueryId,
  parseStreamEntry,
  type ShopperEvent,
} from '../src';
import { event } from './fixtures';

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
  // The raw entry is what an indexer will XREAD: format version 2, the event as one JSON array.
  const entries = (await redis.xrange(eventKeys(prefix).stream, '-', '+')) as Array<[string, string[]]>;
  expect(entries[0]?.[1]).toEqual([
    'v',
    '2',
    'receivedAt',
    '2026-12-07T09:31:00.000Z',
    'e',
    '["a","click","sku-2","s","sku-1",1,"2026-12-07T09:30:00.500Z","s_abcdefgh"]',
  ]);
  expect(JSON.parse(entries[1]?.[1][5] ?? '')).toEqual([
    'b',
    'purchase',
    'sku-2',
    'q',
    queryId,
    0,
    expect.any(String),
    's_abcdefgh',
  ]);
});

test('entries of format version 1 (streams written before version 2) are still read', async () => {
  const { stream } = eventKeys(prefix);
  // prettier-ignore
  await redis.xadd(stream, '*', 'v', '1', 'eventId', 'old', 'type', 'purchase', 'itemId', 'sku-9',
    'queryId', 'q-1', 'position', '3', 'timestamp', '2026-12-01T10:00:00.000Z', 'sessionId', 's_abcdefgh',
    'receivedAt', '2026-12-01T10:00:01.000Z');
  await log().append([event('new')]);
  const stored = await log().read();
  expect(stored.map((e) => [e.eventId, e.type, e.context, e.position])).toEqual([
    ['old', 'purchase', { queryId: 'q-1' }, 3],
    ['new', 'click', { sourceItemId: 'sku-1' }, 1],
  ]);
  expect(stored[0]?.receivedAt).toBe('2026-12-01T10:00:01.000Z');
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

test('events in different time slices, and a replay of them, are deduplicated slice by slice', async () => {
  const base = Date.parse('2026-12-07T09:30:00.000Z');
  const at = (ms: number) => new Date(base + ms).toISOString();
  const batch = [
    event('t0', { timestamp: at(0) }),
    event('t1', { timestamp: at(DEDUPE_SLICE_MS + 1) }),
    event('t2', { timestamp: at(5) }),
    event('t3', { timestamp: at(3 * DEDUPE_SLICE_MS) }),
  ];
  const first = await log().append(batch, base + 60_000);
  expect(first).toMatchObject({ accepted: 4, duplicates: 0 });
  // The ids come back in the batch's order, whatever the slices' order in the script.
  expect((await log().read()).map((e) => e.streamId)).toEqual(expect.arrayContaining(first.ids as string[]));
  const replay = await log().append([
    batch[3],
    batch[1],
    event('t4', { timestamp: at(6) }),
    batch[0],
  ] as ShopperEvent[]);
  expect(replay.ids.map((id) => id !== null)).toEqual([false, false, true, false]);
  expect(await redis.smembers(eventKeys(prefix).dedupe(dedupeSliceOf(base)))).toEqual(
    expect.arrayContaining(['t0', 't2', 't4']),
  );
});

test("a slice's set expires the dedupe TTL after the slice ends (then an id may be stored again)", async () => {
  const now = Date.now();
  const timestamp = new Date(now - 5_000).toISOString();
  await log({ dedupeTtlSeconds: 60 }).append([event('ttl', { timestamp })], now);
  const key = eventKeys(prefix).dedupe(dedupeSliceOf(Date.parse(timestamp)));
  expect(await redis.sismember(key, 'ttl')).toBe(1);
  const sliceEnd = (dedupeSliceOf(Date.parse(timestamp)) + 1) * DEDUPE_SLICE_MS;
  const expiresAt = now + (await redis.pttl(key));
  expect(expiresAt).toBeGreaterThan(sliceEnd + 60_000 - 2_000);
  expect(expiresAt).toBeLessThanOrEqual(sliceEnd + 60_000 + 1_000);
  // An event older than any accepted window (the fixture's, appended directly): remembered for the
  // TTL from its arrival instead of not at all.
  await log({ dedupeTtlSeconds: 1 }).append([event('old')]);
  const old = eventKeys(prefix).dedupe(dedupeSliceOf(Date.parse(event('old').timestamp)));
  expect(await redis.pttl(old)).toBeGreaterThan(0);
  expect(await redis.pttl(old)).toBeLessThanOrEqual(2000);
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
  expect(parseStreamEntry('1-0', ['v', '3', 'eventId', 'x'])).toBeNull();
  expect(parseStreamEntry('1-0', ['v', '2', 'eventId', 'x'])).toBeNull();
  expect(parseStreamEntry('1-0', ['v', '1', 'eventId', 'x'])).toBeNull();
  const v2 = (e: string) => parseStreamEntry('1-0', ['v', '2', 'receivedAt', 'r', 'e', e]);
  expect(v2('["x","click","i","s","src",0,"t","s_abcdefgh"]')).toMatchObject({ eventId: 'x' });
  expect(v2('not json')).toBeNull();
  expect(v2('["x","click","i","s","src",0,"t"]')).toBeNull();
  expect(v2('["x","look","i","s","src",0,"t","s_abcdefgh"]')).toBeNull();
  expect(v2('["x","click","i","z","src",0,"t","s_abcdefgh"]')).toBeNull();
  expect(v2('["x","click","i","s","src",0.5,"t","s_abcdefgh"]')).toBeNull();
  expect(v2('{"eventId":"x"}')).toBeNull();
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

test('appends waiting for a connection that is not ready share one wait, and fail together at its timeout', async () => {
  const waiting = new Redis(REDIS_URL, { lazyConnect: true });
  const before = waiting.listenerCount('ready');
  const events = new RedisEventLog({
    connection: waiting,
    prefix,
    maxLength: 1000,
    dedupeTtlSeconds: 60,
    readyTimeoutMs: 200,
  });
  const appends = Array.from({ length: 20 }, (_, i) => events.append([event(`w${i}`)]));
  // A burst during an outage adds one pair of listeners, not one per batch.
  expect(waiting.listenerCount('ready')).toBe(before + 1);
  const outcomes = await Promise.allSettled(appends);
  expect(
    outcomes.every((o) => o.status === 'rejected' && /not ready within 200 ms/.test(String(o.reason))),
  ).toBe(true);
  expect(waiting.listenerCount('ready')).toBe(before);
  waiting.disconnect();
});

describe('RedisEventStream (the indexer reads the whole stream and trims it by age)', () => {
  test('readAll pages through every entry in order, skipping entries of another format', async () => {
    const events = log();
    for (let b = 0; b < 5; b++)
      await events.append(Array.from({ length: 7 }, (_, i) => event(`p${b}-${i}`, { position: i })));
    await redis.xadd(eventKeys(prefix).stream, '*', 'v', '99', 'eventId', 'from-the-future');
    await events.append([event('last')]);
    const stream = new RedisEventStream(redis, prefix);
    const all = await stream.readAll(4);
    expect(all.map((e) => e.eventId)).toEqual([
      ...Array.from({ length: 5 }, (_, b) => Array.from({ length: 7 }, (_, i) => `p${b}-${i}`)).flat(),
      'last',
    ]);
    const first = await stream.page(null, 10);
    expect(first.events).toHaveLength(10);
    expect(first.next).toBe(first.events[9]?.streamId);
    expect(await stream.length()).toBe(37);
  });

  test('trimOlderThan drops the entries appended before the cutoff (XTRIM MINID) and keeps the rest', async () => {
    const { stream: key } = eventKeys(prefix);
    const stream = new RedisEventStream(redis, prefix);
    // Entries with explicit ids: 1,000 "old" ones (ms 1000…) and 300 recent ones (now).
    const pipeline = redis.pipeline();
    for (let i = 0; i < 1000; i++) pipeline.xadd(key, `${1000 + i}-0`, 'v', '1', 'eventId', `old-${i}`);
    await pipeline.exec();
    const events = log();
    for (let b = 0; b < 3; b++)
      await events.append(Array.from({ length: 100 }, (_, i) => event(`new-${b}-${i}`)));
    const removed = await stream.trimOlderThan(Date.now() - 60_000);
    // `~`: whole nodes only, so a few old entries may stay; never a recent one goes.
    expect(removed).toBeGreaterThan(800);
    const left = (await redis.xrange(key, '-', '+')) as Array<[string, string[]]>;
    const recent = left.filter(([id, f]) => parseStreamEntry(id, f)?.eventId.startsWith('new-'));
    expect(recent).toHaveLength(300);
    expect(left.length).toBe(1300 - removed);
  });
});
