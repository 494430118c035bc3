import { randomUUID } from 'node:crypto';
import { LookalikeError } from '@lookalike/config';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AllItemsFailedError,
  CATALOGUE_QUEUE,
  CatalogueQueue,
  InvalidJobError,
  QueueError,
  closeRedisConnection,
  createCatalogueWorker,
  buildJobResult,
  createRedisConnection,
  emptyJobResult,
  waitForReady,
  type CatalogueJob,
  type CatalogueProcessor,
  type CatalogueWorker,
  type JobResult,
  type JobStatus,
} from '../src';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Harness {
  prefix: string;
  queue: CatalogueQueue;
  admin: Redis;
  workers: CatalogueWorker[];
  workerConnections: Redis[];
}
let h: Harness;

beforeEach(() => {
  h = {
    prefix: `lookalike-test-${randomUUID()}`,
    queue: undefined as unknown as CatalogueQueue,
    admin: createRedisConnection(REDIS_URL, 'worker'),
    workers: [],
    workerConnections: [],
  };
  h.queue = new CatalogueQueue({ redisUrl: REDIS_URL, prefix: h.prefix });
});

afterEach(async () => {
  await Promise.all(h.workers.map((w) => w.close(true)));
  await h.queue.close();
  // Obliterate as BullMQ's own tests do, then sweep anything left under the unique prefix.
  const bull = new Queue(CATALOGUE_QUEUE, { connection: h.admin, prefix: h.prefix });
  await bull.obliterate({ force: true });
  await bull.close();
  const leftovers = await h.admin.keys(`${h.prefix}*`);
  if (leftovers.length > 0) await h.admin.del(...leftovers);
  await Promise.all([...h.workerConnections, h.admin].map((c) => closeRedisConnection(c)));
});

function startWorker(processor: CatalogueProcessor): CatalogueWorker {
  const connection = createRedisConnection(REDIS_URL, 'worker');
  h.workerConnections.push(connection);
  const worker = createCatalogueWorker({ connection, prefix: h.prefix, concurrency: 1 }, processor);
  h.workers.push(worker);
  return worker;
}

/** Polls getJob until `done` holds; bounded in time. */
async function pollJob(
  id: string,
  done: (s: JobStatus | null) => boolean,
  timeoutMs = 10_000,
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await h.queue.getJob(id);
    if (done(status)) return status as JobStatus;
    if (Date.now() > deadline)
      throw new Error(`job ${id} never reached the state (last: ${JSON.stringify(status)})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const upsert = (...ids: string[]): CatalogueJob => ({
  kind: 'upsert',
  items: ids.map((id) => ({ id, imagePath: `${id}.jpg`, metadata: { colour: 'red' } })),
});

describe('CatalogueQueue', () => {
  it('enqueues a valid job with the default job options and reports it waiting', async () => {
    const jobId = await h.queue.enqueue({ kind: 'upsert', items: [{ id: 'a', imagePath: 'a.jpg' }] });
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    const status = await h.queue.getJob(jobId);
    expect(status).toMatchObject({
      id: jobId,
      kind: 'upsert',
      state: 'waiting',
      progress: 0,
      result: null,
      failedReason: null,
      attemptsMade: 0,
      finishedAt: null,
    });
    expect(Date.parse(status?.createdAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(await h.queue.counts()).toEqual({ waiting: 1, active: 0, completed: 0, failed: 0, delayed: 0 });

    // What BullMQ stored: the validated job (metadata defaulted) under the kind's name, with our options.
    const bull = new Queue(CATALOGUE_QUEUE, { connection: h.admin, prefix: h.prefix });
    const raw = await bull.getJob(jobId);
    await bull.close();
    expect(raw?.name).toBe('upsert');
    expect(raw?.data).toEqual({ kind: 'upsert', items: [{ id: 'a', imagePath: 'a.jpg', metadata: {} }] });
    expect(raw?.opts).toMatchObject({
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 86_400, count: 10_000 },
      removeOnFail: { age: 604_800 },
    });
  });

  it('refuses an invalid job with every problem listed and queues nothing', async () => {
    const bad = {
      kind: 'upsert',
      items: [{ id: 'bad id', imagePath: 'a.jpg' }, { id: 'b' }, { id: 'c', imageUrl: 'file:///etc/passwd' }],
    };
    const err = await h.queue.enqueue(bad as unknown as CatalogueJob).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidJobError);
    expect(err).toMatchObject({ code: 'JOB_INVALID', permanent: true });
    expect((err as InvalidJobError).issues.map((i) => i.path)).toEqual([
      'items[0].id',
      'items[1]',
      'items[2].imageUrl',
    ]);
    expect(await h.queue.counts()).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 });
  });

  it('returns null for unknown or malformed job ids', async () => {
    expect(await h.queue.getJob(randomUUID())).toBeNull();
    expect(await h.queue.getJob('')).toBeNull();
    expect(await h.queue.getJob('x'.repeat(1_000))).toBeNull();
  });

  it('reports a job a real worker completed, with its result', async () => {
    const result: JobResult = buildJobResult({ indexed: ['a', 'b'], version: 7 });
    const seen: CatalogueJob[] = [];
    startWorker(async (job, { handle }) => {
      seen.push(job);
      await handle.updateProgress(50);
      return result;
    });
    const jobId = await h.queue.enqueue(upsert('a', 'b'));
    const status = await pollJob(jobId, (s) => s?.state === 'completed');
    expect(status).toMatchObject({
      kind: 'upsert',
      progress: 100,
      result,
      failedReason: null,
      attemptsMade: 1,
    });
    expect(status.finishedAt).not.toBeNull();
    expect(seen).toEqual([upsert('a', 'b')]);
    expect(await h.queue.waitForIdle({ timeoutMs: 5_000, pollMs: 20 })).toMatchObject({
      completed: 1,
      waiting: 0,
    });
  });

  it('reports progress while a job is active', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    startWorker(async (_job, { handle }) => {
      await handle.updateProgress(40);
      await released;
      return emptyJobResult();
    });
    const jobId = await h.queue.enqueue({ kind: 'reindex' });
    const active = await pollJob(jobId, (s) => s?.state === 'active' && s.progress === 40);
    expect(active).toMatchObject({ kind: 'reindex', result: null });
    expect((await h.queue.counts()).active).toBe(1);
    release();
    await pollJob(jobId, (s) => s?.state === 'completed');
  });

  it('fails a job at once on a permanent error, keeping the reason', async () => {
    startWorker(async () => {
      throw new LookalikeError('INDEX_MODEL_MISMATCH', 'the index was built with another model');
    });
    const jobId = await h.queue.enqueue({ kind: 'delete', ids: ['a'] });
    const status = await pollJob(jobId, (s) => s?.state === 'failed');
    expect(status).toMatchObject({
      kind: 'delete',
      attemptsMade: 1,
      result: null,
      failedCode: 'INDEX_MODEL_MISMATCH',
    });
    expect(status.failedReason).toBe('INDEX_MODEL_MISMATCH: the index was built with another model');
  });

  it('fails a job whose every item failed at once, with its code and its result kept', async () => {
    const result = buildJobResult({
      failed: [
        { id: 'a', code: 'IMAGE_CORRUPT', reason: 'truncated JPEG' },
        { id: 'b', code: 'SOURCE_NOT_FOUND', reason: 'no such file' },
      ],
    });
    startWorker(async (_job, { handle }) => {
      await handle.updateProgress(100);
      throw new AllItemsFailedError(result);
    });
    const jobId = await h.queue.enqueue(upsert('a', 'b'), {});
    const status = await pollJob(jobId, (s) => s?.state === 'failed');
    expect(status).toMatchObject({ attemptsMade: 1, failedCode: 'ALL_ITEMS_FAILED', progress: 100, result });
    expect(status.failedReason).toBe(
      'ALL_ITEMS_FAILED: all 2 item(s) failed (a: IMAGE_CORRUPT, b: SOURCE_NOT_FOUND)',
    );
  });

  it('puts a job back (delayed, with the reason) after a transient error', async () => {
    startWorker(async () => {
      throw new LookalikeError('SNAPSHOT_BUSY', 'try again', { permanent: false });
    });
    const jobId = await h.queue.enqueue({ kind: 'reindex' });
    const status = await pollJob(jobId, (s) => s?.state === 'delayed');
    expect(status).toMatchObject({
      attemptsMade: 1,
      failedReason: 'try again',
      failedCode: null,
      result: null,
    });
    expect((await h.queue.counts()).delayed).toBe(1);
  });

  it('fails job data that bypassed validation without retrying it', async () => {
    const processed: CatalogueJob[] = [];
    startWorker(async (job) => {
      processed.push(job);
      return emptyJobResult();
    });
    const bull = new Queue(CATALOGUE_QUEUE, { connection: h.admin, prefix: h.prefix });
    const raw = await bull.add('upsert', { kind: 'upsert', items: [{ id: 'no image' }] } as never, {
      attempts: 5,
    });
    await bull.close();
    const status = await pollJob(String(raw.id), (s) => s?.state === 'failed');
    expect(status.attemptsMade).toBe(1);
    expect(status.failedReason).toMatch(/Invalid catalogue job/);
    expect(status.failedCode).toBe('JOB_INVALID');
    expect(processed).toEqual([]);
  });

  it('maps delayed and prioritized jobs to delayed and waiting', async () => {
    const later = await h.queue.enqueue({ kind: 'reindex' }, { delay: 60_000 });
    const urgent = await h.queue.enqueue({ kind: 'reindex' }, { priority: 1 });
    expect((await h.queue.getJob(later))?.state).toBe('delayed');
    expect((await h.queue.getJob(urgent))?.state).toBe('waiting');
    expect(await h.queue.counts()).toMatchObject({ waiting: 1, delayed: 1 });
    await expect(h.queue.waitForIdle({ timeoutMs: 150, pollMs: 50 })).rejects.toMatchObject({
      code: 'QUEUE_IDLE_TIMEOUT',
      permanent: false,
    });
  });

  it('keeps prefixes apart', async () => {
    const other = new CatalogueQueue({ redisUrl: REDIS_URL, prefix: `${h.prefix}-other` });
    try {
      const jobId = await h.queue.enqueue({ kind: 'reindex' });
      expect(await other.getJob(jobId)).toBeNull();
      expect((await other.counts()).waiting).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('pings Redis, and uses but does not close a connection it was given', async () => {
    expect(await h.queue.ping()).toBe(true);
    const shared = createRedisConnection(REDIS_URL, 'queue');
    h.workerConnections.push(shared);
    const borrowing = new CatalogueQueue({
      redisUrl: 'redis://unused:1',
      prefix: h.prefix,
      connection: shared,
    });
    const jobId = await borrowing.enqueue({ kind: 'reindex' });
    expect((await h.queue.getJob(jobId))?.state).toBe('waiting');
    await borrowing.close();
    expect(await shared.ping()).toBe('PONG');
  });

  it('reports an unreachable Redis: ping false, enqueue QUEUE_UNAVAILABLE (transient), both quickly', async () => {
    const down = new CatalogueQueue({
      redisUrl: 'redis://127.0.0.1:1',
      prefix: h.prefix,
      enqueueTimeoutMs: 300,
    });
    try {
      let started = Date.now();
      expect(await down.ping(300)).toBe(false);
      expect(Date.now() - started).toBeLessThan(2_000);
      started = Date.now();
      const err = await down.enqueue({ kind: 'reindex' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueError);
      expect(err).toMatchObject({ code: 'QUEUE_UNAVAILABLE', permanent: false });
      expect(Date.now() - started).toBeLessThan(2_000);
      // Validation comes first: a bad job is JOB_INVALID even with Redis down.
      await expect(down.enqueue({ kind: 'nope' } as never)).rejects.toMatchObject({ code: 'JOB_INVALID' });
    } finally {
      await down.close();
    }
  });

  it('refuses a prefix BullMQ keys cannot carry', () => {
    expect(() => new CatalogueQueue({ redisUrl: REDIS_URL, prefix: 'has space' })).toThrow(
      expect.objectContaining({ code: 'QUEUE_BAD_OPTIONS', permanent: true }),
    );
  });
});

describe('createRedisConnection', () => {
  it('configures workers for BullMQ blocking commands and producers to fail fast', async () => {
    const worker = createRedisConnection(REDIS_URL, 'worker');
    const producer = createRedisConnection(REDIS_URL, 'queue');
    try {
      expect(worker.options.maxRetriesPerRequest).toBeNull();
      expect(worker.options.enableOfflineQueue).toBe(true);
      expect(producer.options.enableOfflineQueue).toBe(false);
      expect(producer.options.maxRetriesPerRequest).toBe(2);
      expect(worker.options.retryStrategy?.(1)).toBe(200);
      expect(worker.options.retryStrategy?.(50)).toBe(10_000);
      expect(await worker.ping()).toBe('PONG');
      expect(await waitForReady(producer, 5_000)).toBe(true);
      expect(await producer.ping()).toBe('PONG');
    } finally {
      await Promise.all([closeRedisConnection(worker), closeRedisConnection(producer)]);
    }
  });
});
