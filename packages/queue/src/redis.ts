import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'queue' | 'worker';

/** Reconnect forever, backing off from 200 ms to `capMs`; a service outlives a Redis restart. */
function backoff(capMs: number): (times: number) => number {
  return (times) => Math.min(100 * 2 ** Math.min(times, 10), capMs);
}

/**
 * An ioredis connection configured for its role.
 * - 'worker': `maxRetriesPerRequest: null` (BullMQ refuses blocking connections without it) and an
 *   offline queue, so a worker rides out a Redis restart.
 * - 'queue' (producers: API, CLI): no offline queue and few retries, so adding a job while Redis is
 *   down fails at once (the API answers 503) instead of hanging on a request.
 */
export function createRedisConnection(
  redisUrl: string,
  role: RedisRole,
  overrides: RedisOptions = {},
): Redis {
  const roleOptions: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: backoff(10_000) }
      : { maxRetriesPerRequest: 2, enableOfflineQueue: false, retryStrategy: backoff(5_000) };
  // disconnectTimeout: how long disconnect() waits for a half-open socket before destroying it
  // (ioredis default 2 s, which keeps a process alive that long after closing a dead connection).
  return new Redis(redisUrl, {
    connectTimeout: 10_000,
    disconnectTimeout: 500,
    ...roleOptions,
    ...overrides,
  });
}

/** Resolves once the connection is ready; false after `timeoutMs` (or if it ended) instead. */
export function waitForReady(connection: Redis, timeoutMs: number): Promise<boolean> {
  if (connection.status === 'ready') return Promise.resolve(true);
  if (connection.status === 'end') return Promise.resolve(false);
  return new Promise((resolve) => {
    const finish = (ready: boolean) => {
      clearTimeout(timer);
      connection.off('ready', onReady);
      connection.off('end', onEnd);
      resolve(ready);
    };
    const onReady = () => finish(true);
    const onEnd = () => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    connection.on('ready', onReady);
    connection.on('end', onEnd);
  });
}

/**
 * Closes a connection cleanly when it is up (QUIT lets pending replies arrive) and at once when it
 * is not (QUIT would fail on a connection without an offline queue, or wait for one that never
 * comes).
 */
export async function closeRedisConnection(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status === 'ready') {
    try {
      await connection.quit();
      return;
    } catch {
      // fall through: the connection dropped meanwhile
    }
  }
  connection.disconnect();
}
