/**
 * Shopper events survive restarts: the API as a process (`services/api/dist/server.js`) on a private
 * Redis run like docker-compose.yml runs it (AOF, appendfsync everysec). Events posted with the
 * events key are in the stream; the API is stopped (SIGTERM) and started again: they are still
 * there and a replay of the same batch is still recognised. Then Redis itself is stopped and started
 * on the same data dir: the stream and the dedupe keys come back from the append-only file.
 */
import { Redis } from 'ioredis';
import { RedisEventLog } from '@lookalike/events';
import {
  PrivateRedis,
  apiEnv,
  killAllProcesses,
  pollUntil,
  startApi,
  tempDir,
  uniquePrefix,
  type RunningApi,
} from './support';
import { shopperEvent } from '../services/api/test/fixtures';
import { ContractClient, type ApiReply } from './support/api-client';

jest.setTimeout(180_000);

const API_KEY = 'events-system-write-key-0123456789';
const EVENTS_KEY = 'events-system-events-key-0123456789';

describe('events across API and Redis restarts', () => {
  const prefix = uniquePrefix('events-system');
  const data = tempDir('events-system');
  let redis: PrivateRedis;
  let admin: Redis;
  let log: RedisEventLog;
  let api: RunningApi | undefined;

  const env = () =>
    apiEnv({
      redisUrl: redis.url,
      prefix,
      dataDir: data.dir,
      extra: { API_KEY, EVENTS_KEY, RATE_LIMIT_MAX: '0', EVENTS_RATE_LIMIT_MAX: '0' },
    });
  const post = (body: unknown, key: string | null = EVENTS_KEY): Promise<ApiReply> =>
    new ContractClient((api as RunningApi).url).call('/v1/events', {
      method: 'POST',
      json: body,
      ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
    });

  beforeAll(async () => {
    redis = await PrivateRedis.start({ appendfsync: 'everysec' });
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    log = new RedisEventLog({ connection: admin, prefix, maxLength: 1_000_000, dedupeTtlSeconds: 3600 });
    api = await startApi('api', env());
  });

  afterAll(async () => {
    await api?.process.stop();
    await killAllProcesses();
    admin?.disconnect();
    await redis?.destroy();
    data.remove();
  });

  const batch = {
    events: [
      shopperEvent('s-1'),
      shopperEvent('s-2', { type: 'purchase' }),
      shopperEvent('s-3', { type: 'impression' }),
    ],
  };

  test('events posted with the events key are in the stream; without a key: 401', async () => {
    const anonymous = await post(batch, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.json<{ code: string }>().code).toBe('UNAUTHORIZED');

    const accepted = await post(batch);
    expect(accepted.status).toBe(202);
    expect(accepted.json()).toEqual({ accepted: 3, duplicates: 0, rejected: 0, rejections: [] });
    expect((await log.read()).map((e) => [e.eventId, e.type])).toEqual([
      ['s-1', 'click'],
      ['s-2', 'purchase'],
      ['s-3', 'impression'],
    ]);
  });

  test('after an API restart the events are still there and a replay is still deduplicated', async () => {
    const before = await log.read();
    const stopped = await (api as RunningApi).process.stop();
    expect(stopped.code).toBe(0);
    api = await startApi('api-restarted', env());

    expect(await log.read()).toEqual(before);
    const replay = await post(batch);
    expect(replay.status).toBe(202);
    expect(replay.json()).toEqual({ accepted: 0, duplicates: 3, rejected: 0, rejections: [] });
    // The write key posts events too; a new event is appended after the old ones.
    const next = await post({ events: [shopperEvent('s-4')] }, API_KEY);
    expect(next.json()).toMatchObject({ accepted: 1, duplicates: 0 });
    expect((await log.read()).map((e) => e.eventId)).toEqual(['s-1', 's-2', 's-3', 's-4']);
  });

  test('after a Redis restart (AOF) the stream and the dedupe keys are back; meanwhile 503 QUEUE_UNAVAILABLE', async () => {
    await redis.stop();
    const down = await post({ events: [shopperEvent('s-5')] });
    expect(down.status).toBe(503);
    expect(down.json<{ code: string }>().code).toBe('QUEUE_UNAVAILABLE');
    expect(down.headers['retry-after']).toBe('5');

    await redis.start();
    // The API reconnects by itself; the first answer after that is a replay recognised.
    const replay = await pollUntil(
      async () => {
        const reply = await post(batch);
        return reply.status === 202 ? reply : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the API to reach Redis again' },
    );
    expect(replay.json()).toEqual({ accepted: 0, duplicates: 3, rejected: 0, rejections: [] });
    await pollUntil(async () => admin.status === 'ready' || undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
      description: 'the test connection to reconnect',
    });
    expect((await log.read()).map((e) => e.eventId)).toEqual(['s-1', 's-2', 's-3', 's-4']);
  });
});
