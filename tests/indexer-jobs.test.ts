/**
 * Real indexer processes on real Redis, jobs enqueued through @lookalike/queue:
 * - a mixed batch with 5 broken images → the rest indexed, the 5 failed with distinct reasons;
 * - a single upsert on an idle system is visible to a snapshot reader within 3 s;
 * - delete and reindex jobs; a job with nothing to change publishes nothing (version null);
 * - a job whose every item failed fails (ALL_ITEMS_FAILED, not retried) with its failures listed;
 * - a job with more items than a result lists: exact counts, id lists cut at 100.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { SNAPSHOTS_DIR, pointerPath } from '@lookalike/contracts';
import { SnapshotReader } from '@lookalike/index-store';
import { CatalogueQueue, JOB_RESULT_MAX_IDS, type CatalogueItemInput } from '@lookalike/queue';
import {
  deleteQueueKeys,
  diffIds,
  freePort,
  indexerEnv,
  killAllProcesses,
  makeTestCatalogue,
  readPublished,
  sharedRedisUrl,
  startIndexer,
  startPhotoServer,
  tempDir,
  uniquePrefix,
  waitForJob,
  type ServiceProcess,
  type TestCatalogue,
} from './support';
import { STANDARD_DEFAULT_METRICS, metricConventionViolations, metricTypes } from './support/metrics';

jest.setTimeout(180_000);

const MAX_BYTES = 200_000;

describe('indexer: job outcomes with real workers', () => {
  const prefix = uniquePrefix('jobs');
  const data = tempDir('jobs-data');
  let catalogue: TestCatalogue;
  let photos: Awaited<ReturnType<typeof startPhotoServer>>;
  let queue: CatalogueQueue;
  let workers: ServiceProcess[] = [];
  let metricsPort = 0;

  beforeAll(async () => {
    catalogue = makeTestCatalogue(40, MAX_BYTES);
    photos = await startPhotoServer();
    const env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: catalogue.root,
      extra: {
        IMAGE_MAX_BYTES: String(MAX_BYTES),
        ALLOW_PRIVATE_IMAGE_URLS: 'true',
        IMAGE_FETCH_TIMEOUT_MS: '3000',
      },
    });
    metricsPort = await freePort();
    workers = await Promise.all([
      startIndexer('indexer-a', { ...env, METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' }),
      startIndexer('indexer-b', env),
    ]);
    queue = new CatalogueQueue({ redisUrl: sharedRedisUrl, prefix });
  });

  afterAll(async () => {
    await queue?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await killAllProcesses();
    await photos?.close();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    catalogue?.remove();
    data.remove();
  });

  it('indexes the good items of a mixed batch and fails the 5 broken ones with distinct reasons', async () => {
    const good = catalogue.goodIds.map((id) => ({
      id,
      imagePath: `${id}.jpg`,
      metadata: { batch: 'mixed' },
    }));
    const broken = [
      { id: 'broken-truncated', imagePath: catalogue.broken.truncated, metadata: {} },
      { id: 'broken-not-image', imagePath: catalogue.broken.notAnImage, metadata: {} },
      { id: 'broken-404', imageUrl: photos.url('/photo/does-not-exist.jpg'), metadata: {} },
      { id: 'broken-oversize', imagePath: catalogue.broken.oversize, metadata: {} },
      { id: 'broken-traversal', imagePath: catalogue.broken.escape, metadata: {} },
    ];
    // One URL item that works, so the 404 is about the URL, not about URLs in general.
    const viaUrl = {
      id: 'via-url',
      imageUrl: photos.url(`/photo/${catalogue.goodIds[0]}.jpg`),
      metadata: {},
    };
    const items = [...good.slice(0, 20), ...broken, viaUrl, ...good.slice(20)];
    const jobId = await queue.enqueue({ kind: 'upsert', items });
    const job = await waitForJob(queue, jobId, 120_000);
    expect(job.state).toBe('completed');
    const result = job.result!;
    expect(result.indexed.sort()).toEqual([...catalogue.goodIds, 'via-url'].sort());
    const codes = Object.fromEntries(result.failed.map((f) => [f.id, f.code]));
    expect(codes).toEqual({
      'broken-truncated': 'IMAGE_CORRUPT',
      'broken-not-image': 'SOURCE_NOT_IMAGE',
      'broken-404': 'SOURCE_HTTP_ERROR',
      'broken-oversize': 'SOURCE_TOO_LARGE',
      'broken-traversal': 'SOURCE_PATH_OUTSIDE_ROOT',
    });
    expect(new Set(result.failed.map((f) => f.reason)).size).toBe(5);
    // Every failure here is permanent: the job completed on its first attempt, nothing was retried.
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBeNull();

    const published = await readPublished(data.dir);
    expect(diffIds(published?.ids ?? [], [...catalogue.goodIds, 'via-url'])).toEqual({
      missing: [],
      duplicates: [],
      extra: [],
    });
  });

  it('retries transient failures with backoff: a flaky URL ends up indexed, a dead one failed with its reason', async () => {
    const flakyPath = `/flaky/2/${catalogue.goodIds[5]}.jpg`;
    const items: CatalogueItemInput[] = [
      { id: 'flaky-url', imageUrl: photos.url(flakyPath), metadata: {} },
      { id: 'down-url', imageUrl: photos.url('/down.jpg'), metadata: {} },
      { id: 'steady', imagePath: `${catalogue.goodIds[6]}.jpg`, metadata: { steady: 'yes' } },
    ];
    const started = Date.now();
    const job = await waitForJob(queue, await queue.enqueue({ kind: 'upsert', items }), 90_000);
    const seconds = (Date.now() - started) / 1000;
    expect(job.state).toBe('completed');
    // Attempts: 5, backoff 1, 2, 4, 8 s (the queue's defaults).
    expect(job.attemptsMade).toBe(5);
    expect(seconds).toBeGreaterThan(14);
    // Every attempt loads every image again (the content hash needs the bytes) but embeds only
    // what is not published yet.
    expect(photos.hits(flakyPath)).toBe(5);
    expect(photos.hits('/down.jpg')).toBe(5);
    // Items published by earlier attempts of this job count as indexed by it.
    expect(job.result?.indexed.sort()).toEqual(['flaky-url', 'steady']);
    expect(job.result?.unchanged).toEqual([]);
    expect(job.result?.failed).toEqual([
      { id: 'down-url', code: 'SOURCE_HTTP_ERROR', reason: expect.stringMatching(/503/) },
    ]);
    const published = await readPublished(data.dir);
    expect(published?.ids).toEqual(expect.arrayContaining(['flaky-url', 'steady']));
    expect(published?.ids).not.toContain('down-url');
  });

  it('refuses a lexical path traversal at enqueue time (the whole job is invalid)', async () => {
    await expect(
      queue.enqueue({
        kind: 'upsert',
        items: [{ id: 'x', imagePath: '../private/secret.jpg', metadata: {} }],
      }),
    ).rejects.toMatchObject({ code: 'JOB_INVALID' });
  });

  it('makes a single upsert on an idle system visible to a reader within 3 seconds', async () => {
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 200 });
    try {
      const id = `single-${Date.now()}`;
      const started = Date.now();
      await queue.enqueue({
        kind: 'upsert',
        items: [{ id, imagePath: `${catalogue.goodIds[3]}.jpg`, metadata: { single: 1 } }],
      });
      let visibleAfter = -1;
      while (Date.now() - started < 10_000) {
        if (reader.current()?.get(id)) {
          visibleAfter = Date.now() - started;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(`single upsert visible after ${visibleAfter} ms`);
      expect(visibleAfter).toBeGreaterThanOrEqual(0);
      expect(visibleAfter).toBeLessThan(3000);
    } finally {
      await reader.close();
    }
  });

  it('publishes nothing for a job that changes nothing; a delete of a present id still publishes', async () => {
    // The published state on disk: the pointer (CURRENT) and the version directories.
    const onDisk = async () => ({
      pointer: await readFile(pointerPath(data.dir), 'utf8'),
      versions: (await readdir(path.join(data.dir, SNAPSHOTS_DIR))).sort(),
    });
    const before = await onDisk();
    const ghost = await waitForJob(
      queue,
      await queue.enqueue({ kind: 'delete', ids: ['no-such-id'] }),
      60_000,
    );
    expect(ghost.state).toBe('completed');
    expect(ghost.result).toMatchObject({ deleted: [], notFound: ['no-such-id'], version: null });
    // Re-sending an item exactly as it is stored changes nothing either.
    const sameItem = {
      id: catalogue.goodIds[5]!,
      imagePath: `${catalogue.goodIds[5]}.jpg`,
      metadata: { batch: 'mixed' },
    };
    const again = await waitForJob(queue, await queue.enqueue({ kind: 'upsert', items: [sameItem] }), 60_000);
    expect(again.state).toBe('completed');
    expect(again.result).toMatchObject({ unchanged: [sameItem.id], indexed: [], version: null });
    expect(await onDisk()).toEqual(before);

    const published = await readPublished(data.dir);
    const real = await waitForJob(
      queue,
      await queue.enqueue({ kind: 'delete', ids: [sameItem.id, 'no-such-id'] }),
      60_000,
    );
    expect(real.state).toBe('completed');
    expect(real.result).toMatchObject({ deleted: [sameItem.id], notFound: ['no-such-id'] });
    expect(real.result?.version).toBeGreaterThan(published?.version ?? 0);
    expect((await readPublished(data.dir))?.version).toBe(real.result?.version);
  });

  it('fails a job whose every item failed, at once, with ALL_ITEMS_FAILED and the failures listed', async () => {
    const before = await readPublished(data.dir);
    const items: CatalogueItemInput[] = [
      { id: 'all-bad-truncated', imagePath: catalogue.broken.truncated, metadata: {} },
      { id: 'all-bad-not-image', imagePath: catalogue.broken.notAnImage, metadata: {} },
      { id: 'all-bad-missing', imagePath: 'no-such-file.jpg', metadata: {} },
    ];
    const job = await waitForJob(queue, await queue.enqueue({ kind: 'upsert', items }), 60_000);
    expect(job).toMatchObject({ state: 'failed', failedCode: 'ALL_ITEMS_FAILED', attemptsMade: 1 });
    expect(job.failedReason).toMatch(/^ALL_ITEMS_FAILED: all 3 item\(s\) failed/);
    expect(job.result?.counts).toEqual({ indexed: 0, unchanged: 0, deleted: 0, notFound: 0, failed: 3 });
    expect(job.result?.failed.map((f) => [f.id, f.code])).toEqual([
      ['all-bad-missing', 'SOURCE_NOT_FOUND'],
      ['all-bad-not-image', 'SOURCE_NOT_IMAGE'],
      ['all-bad-truncated', 'IMAGE_CORRUPT'],
    ]);
    expect(job.result?.version).toBeNull();
    expect((await readPublished(data.dir))?.version).toBe(before?.version);
  });

  it('caps the id lists of a large job at 100 and keeps every count exact', async () => {
    const count = JOB_RESULT_MAX_IDS + 30;
    // Distinct ids, real images (reused: the content hash includes the id's metadata).
    const items = Array.from({ length: count }, (_, i) => ({
      id: `big-${String(i).padStart(3, '0')}`,
      imagePath: `${catalogue.goodIds[i % catalogue.goodIds.length]}.jpg`,
      metadata: { n: i },
    }));
    items.push({ id: 'big-broken', imagePath: catalogue.broken.truncated, metadata: { n: -1 } });
    const upsert = await waitForJob(queue, await queue.enqueue({ kind: 'upsert', items }), 150_000);
    expect(upsert.state).toBe('completed');
    const result = upsert.result!;
    expect(result.counts).toEqual({ indexed: count, unchanged: 0, deleted: 0, notFound: 0, failed: 1 });
    expect(result.indexed).toEqual(items.slice(0, JOB_RESULT_MAX_IDS).map((item) => item.id));
    expect(result.truncated).toEqual({
      indexed: true,
      unchanged: false,
      deleted: false,
      notFound: false,
      failed: false,
    });
    expect(result.failed).toEqual([{ id: 'big-broken', code: 'IMAGE_CORRUPT', reason: expect.any(String) }]);
    const published = await readPublished(data.dir);
    expect(published?.ids).toEqual(expect.arrayContaining(items.slice(0, count).map((item) => item.id)));

    // A delete of more ids than the cap that the index does not have: counted, listed in part.
    const ghosts = Array.from({ length: 150 }, (_, i) => `ghost-${String(i).padStart(3, '0')}`);
    const del = await waitForJob(queue, await queue.enqueue({ kind: 'delete', ids: ghosts }), 60_000);
    expect(del.state).toBe('completed');
    expect(del.result?.counts).toEqual({ indexed: 0, unchanged: 0, deleted: 0, notFound: 150, failed: 0 });
    expect(del.result?.notFound).toEqual(ghosts.slice(0, JOB_RESULT_MAX_IDS));
    expect(del.result?.truncated.notFound).toBe(true);
    expect(del.result?.version).toBeNull();
  });

  it('deletes items and reindexes everything in one atomic publish', async () => {
    const toDelete = [catalogue.goodIds[0]!, catalogue.goodIds[1]!, 'never-indexed'];
    const deleteJob = await waitForJob(queue, await queue.enqueue({ kind: 'delete', ids: toDelete }), 60_000);
    expect(deleteJob.state).toBe('completed');
    expect(deleteJob.result).toMatchObject({ deleted: toDelete.slice(0, 2), notFound: ['never-indexed'] });

    const before = await readPublished(data.dir);
    const reindexJob = await waitForJob(queue, await queue.enqueue({ kind: 'reindex' }), 120_000);
    expect(reindexJob.state).toBe('completed');
    // More items than a list holds: the count is exact, the list cut at the cap.
    expect(before?.count).toBeGreaterThan(JOB_RESULT_MAX_IDS);
    expect(reindexJob.result?.counts).toEqual({
      indexed: before?.count,
      unchanged: 0,
      deleted: 0,
      notFound: 0,
      failed: 0,
    });
    expect(reindexJob.result?.indexed).toHaveLength(JOB_RESULT_MAX_IDS);
    expect(reindexJob.result?.truncated.indexed).toBe(true);
    expect(reindexJob.result?.failed).toEqual([]);
    const after = await readPublished(data.dir);
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    expect(diffIds(after?.ids ?? [], before?.ids ?? [])).toEqual({ missing: [], duplicates: [], extra: [] });
  });

  it('logs job and item ids and serves Prometheus counters', async () => {
    const lines = workers.flatMap((w) => w.logs);
    expect(lines.find((l) => l.msg === 'item failed' && l.itemId === 'broken-oversize')).toMatchObject({
      jobId: expect.any(String),
      code: 'SOURCE_TOO_LARGE',
    });
    expect(lines.find((l) => l.msg === 'job done')).toMatchObject({
      jobId: expect.any(String),
      kind: expect.any(String),
    });
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const value = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    // Worker A did part of the work (which part depends on scheduling).
    expect(value('lookalike_indexer_items_embedded_total')).toBeGreaterThan(0);
    expect(text).toMatch(/lookalike_indexer_publish_duration_seconds_count \d+/);
    // Which kinds of job A completed depends on scheduling too (in one run: a reindex, its upserts retried).
    expect(text).toMatch(
      /lookalike_indexer_jobs_total\{kind="(upsert|delete|reindex)",outcome="completed"\} \d+/,
    );
    // The naming conventions the API follows too: Node's defaults as they are, the rest lookalike_.
    const types = metricTypes(text);
    for (const name of STANDARD_DEFAULT_METRICS) expect(types.has(name)).toBe(true);
    expect(metricConventionViolations(types)).toEqual([]);
  });
});
