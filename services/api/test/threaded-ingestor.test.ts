/**
 * ThreadedEventIngestor on the real Redis (REDIS_URL) with the compiled ingest worker (built by
 * `pnpm build`, which scripts/test.sh runs first): batches go through the thread to the stream.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { RedisEventStream } from '@lookalike/events';
import { ThreadedEventIngestor } from '../src/events/threaded-ingestor';
import { shopperEvent } from './helpers';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const WORKER = path.join(__dirname, '../dist/events/ingest-worker.js');
const WINDOW = { maxAgeMs: 3600_000, maxFutureMs: 60_000 };

let redis: Redis;
let prefix: string;
const ingestors: ThreadedEventIngestor[] = [];

beforeAll(() => {
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run pnpm build first`);
});
beforeEach(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  prefix = `lookalike-test-ingest-thread-${randomUUID()}`;
});
afterEach(async () => {
  for (const ingestor of ingestors.splice(0)) await ingestor.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function ingestor(redisUrl = REDIS_URL, maxQueue?: number): ThreadedEventIngestor {
  const made = new ThreadedEventIngestor({
    ...(maxQueue !== undefined ? { maxQueue } : {}),
    redisUrl,
    prefix,
    maxLength: 10_000,
    dedupeTtlSeconds: 600,
    readyTimeoutMs: 500,
    workerFile: WORKER,
  });
  ingestors.push(made);
  return made;
}

const body = (events: unknown[]) => new Uint8Array(Buffer.from(JSON.stringify({ events })));
const event = (overrides: Record<string, unknown> = {}) =>
  shopperEvent(randomUUID(), { position: 3, ...overrides });

test('bytes in, events in the stream: stored once, refused ones listed, bad JSON refused', async () => {
  const thread = ingestor();
  const batch = body([event(), event(), event({ position: -1 })]);
  const first = await thread.ingest({ body: batch, receivedAt: Date.now(), window: WINDOW });
  expect(first).toMatchObject({
    kind: 'stored',
    accepted: 2,
    duplicates: 0,
    rejectedByReason: { invalid: 1 },
  });
  const replay = await thread.ingest({ body: batch, receivedAt: Date.now(), window: WINDOW });
  expect(replay).toMatchObject({ kind: 'stored', accepted: 0, duplicates: 2 });
  const stored = await new RedisEventStream(redis, prefix).readAll();
  expect(stored.map((e) => e.position)).toEqual([3, 3]);
  const broken = new Uint8Array(Buffer.from('{"events": ['));
  expect(await thread.ingest({ body: broken, receivedAt: Date.now(), window: WINDOW })).toEqual({
    kind: 'unparsable',
  });
});

test('many batches at once all land; an unreachable Redis rejects promptly', async () => {
  const thread = ingestor();
  const outcomes = await Promise.all(
    Array.from({ length: 40 }, () =>
      thread.ingest({
        body: body(Array.from({ length: 25 }, () => event())),
        receivedAt: Date.now(),
        window: WINDOW,
      }),
    ),
  );
  expect(outcomes.every((o) => o.kind === 'stored' && o.accepted === 25)).toBe(true);
  expect(await redis.xlen(`${prefix}:events`)).toBe(1000);

  const down = ingestor('redis://127.0.0.1:1');
  const started = Date.now();
  await expect(
    down.ingest({ body: body([event()]), receivedAt: Date.now(), window: WINDOW }),
  ).rejects.toThrow();
  expect(Date.now() - started).toBeLessThan(5000);
});

test('past its queue bound the thread refuses batches at once (the API answers 503) and stores the rest', async () => {
  // 16 batches run in the thread at a time and 2 may wait: of 60 sent at once, some must be refused.
  const thread = ingestor(REDIS_URL, 2);
  const settled = await Promise.allSettled(
    Array.from({ length: 60 }, () =>
      thread.ingest({ body: body([event()]), receivedAt: Date.now(), window: WINDOW }),
    ),
  );
  const refused = settled.filter((s) => s.status === 'rejected');
  const stored = settled.filter((s) => s.status === 'fulfilled');
  expect(refused.length).toBeGreaterThan(0);
  expect(String((refused[0] as PromiseRejectedResult).reason)).toMatch(/queue/i);
  expect(stored.length).toBeGreaterThanOrEqual(2);
  expect(await redis.xlen(`${prefix}:events`)).toBe(stored.length);
});
