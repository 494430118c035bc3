import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  CATALOGUE_QUEUE,
  CatalogueQueue,
  closeRedisConnection,
  createRedisConnection,
  type CatalogueJob,
} from '../src';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let prefix: string;
let admin: Redis;
let queues: CatalogueQueue[];

function openQueue(): CatalogueQueue {
  const queue = new CatalogueQueue({ redisUrl: REDIS_URL, prefix });
  queues.push(queue);
  return queue;
}

beforeEach(() => {
  prefix = `lookalike-test-${randomUUID()}`;
  admin = createRedisConnection(REDIS_URL, 'worker');
  queues = [];
});

afterEach(async () => {
  await Promise.all(queues.map((queue) => queue.close()));
  const bull = new Queue(CATALOGUE_QUEUE, { connection: admin, prefix });
  await bull.obliterate({ force: true });
  await bull.close();
  const leftovers = await admin.keys(`${prefix}*`);
  if (leftovers.length > 0) await admin.del(...leftovers);
  await closeRedisConnection(admin);
});

describe('CatalogueQueue.enqueueOnce', () => {
  it('adds the job under the given id, with the default job options', async () => {
    const queue = openQueue();
    expect(await queue.enqueueOnce({ kind: 'reindex' }, 'reindex-to-model_a-0123')).toBe(
      'reindex-to-model_a-0123',
    );
    expect(await queue.getJob('reindex-to-model_a-0123')).toMatchObject({
      id: 'reindex-to-model_a-0123',
      kind: 'reindex',
      state: 'waiting',
      attemptsMade: 0,
    });
    const bull = new Queue(CATALOGUE_QUEUE, { connection: admin, prefix });
    const raw = await bull.getJob('reindex-to-model_a-0123');
    await bull.close();
    expect(raw?.name).toBe('reindex');
    expect(raw?.data).toEqual({ kind: 'reindex' });
    expect(raw?.opts).toMatchObject({
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 86_400, count: 10_000 },
      removeOnFail: { age: 604_800 },
    });
  });

  it('queues one job when several producers ask for the same id at once', async () => {
    const producers = [openQueue(), openQueue(), openQueue()];
    const ids = await Promise.all(producers.map((q) => q.enqueueOnce({ kind: 'reindex' }, 'same-work')));
    expect(ids).toEqual(['same-work', 'same-work', 'same-work']);
    // Asked again later while the first is still kept: still one job.
    await producers[0]?.enqueueOnce({ kind: 'reindex' }, 'same-work');
    expect(await producers[0]?.counts()).toEqual({
      waiting: 1,
      active: 0,
      completed: 0,
      failed: 0,
      delayed: 0,
    });
  });

  it('validates the job and refuses ids BullMQ cannot keep, queueing nothing', async () => {
    const queue = openQueue();
    await expect(queue.enqueueOnce({ kind: 'nope' } as unknown as CatalogueJob, 'x')).rejects.toMatchObject({
      code: 'JOB_INVALID',
      permanent: true,
    });
    for (const bad of ['', '12345', 'has:colon', 'has space', 'x'.repeat(257)]) {
      await expect(queue.enqueueOnce({ kind: 'reindex' }, bad)).rejects.toMatchObject({
        code: 'QUEUE_BAD_OPTIONS',
        permanent: true,
      });
    }
    expect((await queue.counts()).waiting).toBe(0);
  });
});
