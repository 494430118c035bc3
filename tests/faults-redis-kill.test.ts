/**
 * Redis killed with SIGKILL in the middle of an import of 300 generated images and started again on
 * the same port and data dir, append-only file on with fsync every second (as docker-compose.yml runs
 * it): the import completes with every item present — the count and every id, read through the API
 * — and while Redis is down the API keeps answering reads and refuses writes with 503
 * QUEUE_UNAVAILABLE. (tests/indexer-redis.test.ts covers a clean SIGTERM stop with the CLI.)
 */
import path from 'node:path';
import {
  apiEnv,
  diffIds,
  indexerEnv,
  killAllProcesses,
  pollUntil,
  PrivateRedis,
  sleep,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';
import { ContractClient, type JobBody, type ProblemBody } from './support/api-client';
import { enqueueImagePaths, waitForIndex, writeGeneratedCatalogue } from './support/faults';

jest.setTimeout(180_000);

const ITEMS = 300;
const BATCH = 20;
const JOBS = ITEMS / BATCH;
const DOWN_MS = 3000;

describe('Redis killed (SIGKILL) mid-import, AOF on: the import completes with every item', () => {
  const work = tempDir('faults-redis');
  const dataDir = path.join(work.dir, 'data');
  const catalogueRoot = path.join(work.dir, 'catalogue');
  let redis: PrivateRedis | undefined;
  const indexers: ServiceProcess[] = [];
  let api: RunningApi | undefined;

  afterAll(async () => {
    await api?.process.stop();
    await Promise.all(indexers.map((indexer) => indexer.stop()));
    await killAllProcesses();
    await redis?.destroy();
    work.remove();
  });

  it(`${ITEMS} items in ${JOBS} jobs: all indexed after Redis was killed and restarted`, async () => {
    const started = Date.now();
    const ids = await writeGeneratedCatalogue(catalogueRoot, 'redis', ITEMS, 1);
    redis = await PrivateRedis.start({ appendfsync: 'everysec' });
    const options = { redisUrl: redis.url, prefix: uniquePrefix('faults-redis'), dataDir, catalogueRoot };
    const indexer = indexerEnv({
      ...options,
      extra: { PUBLISH_DEBOUNCE_MS: '200', RANKING: 'false', ITEM_CONCURRENCY: '2' },
    });
    const [a, b, served] = await Promise.all([
      startIndexer('indexer-a', indexer),
      startIndexer('indexer-b', indexer),
      startApi('api', apiEnv({ ...options, extra: { RATE_LIMIT_MAX: '0' } })),
    ]);
    indexers.push(a, b);
    api = served;
    const client = new ContractClient(api.url);

    const jobIds: string[] = [];
    for (let i = 0; i < ITEMS; i += BATCH)
      jobIds.push(await enqueueImagePaths(client, ids.slice(i, i + BATCH)));

    // Kill Redis once a few jobs are done and most are still to come.
    const jobsDone = () =>
      indexers.reduce((n, w) => n + w.logs.filter((l) => l.msg === 'job done').length, 0);
    await pollUntil(() => jobsDone() >= 2, { timeoutMs: 90_000, description: 'two finished jobs' });
    // …and the API serves what they published (it polls CURRENT: on a loaded machine that can lag).
    await pollUntil(async () => (await client.call('/v1/index')).status === 200, {
      timeoutMs: 20_000,
      description: 'the API serving the first published version',
    });
    const doneAtKill = jobsDone();
    expect(doneAtKill).toBeLessThan(JOBS - 3);
    await redis.kill();

    // Down: reads go on from the snapshot, writes are refused with the documented 503.
    await sleep(500);
    const index = (await client.call('/v1/index')).json<{ version: number; count: number }>();
    expect(index.count).toBeGreaterThan(0);
    const read = await client.call(`/v1/items/${ids[0]}`);
    expect(read.status).toBe(200);
    const write = await client.call('/v1/items', {
      method: 'POST',
      json: { items: [{ id: 'while-down', imagePath: `${ids[0]}.jpg` }] },
    });
    expect(write.status).toBe(503);
    expect(write.json<ProblemBody>().code).toBe('QUEUE_UNAVAILABLE');
    await sleep(DOWN_MS - 500);
    await redis.start();
    process.stdout.write(`redis killed after ${doneAtKill} of ${JOBS} jobs, down ${DOWN_MS} ms\n`);

    // Every job that was acknowledged before the kill is still known, and all of them complete.
    const jobs = await pollUntil(
      async () => {
        const states = await Promise.all(
          jobIds.map(async (id) => (await client.call(`/v1/jobs/${id}`)).json<JobBody>()),
        );
        return states.every((job) => job.state === 'completed' || job.state === 'failed')
          ? states
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, description: `all ${JOBS} jobs to finish after the restart` },
    );
    expect(jobs.filter((job) => job.state !== 'completed').map((job) => [job.id, job.failedReason])).toEqual(
      [],
    );

    // Every item present, through the API.
    const final = await waitForIndex(client, (i) => i.count === ITEMS, 30_000, `${ITEMS} items served`);
    const listed: string[] = [];
    for (let offset = 0; offset < ITEMS; offset += 100) {
      const page = (await client.call(`/v1/items?limit=100&offset=${offset}`)).json<{
        items: Array<{ id: string }>;
      }>();
      listed.push(...page.items.map((item) => item.id));
    }
    expect(diffIds(listed, ids)).toEqual({ missing: [], duplicates: [], extra: [] });
    expect(indexers.every((w) => w.running)).toBe(true);
    process.stdout.write(
      `redis kill: v${final.version} holds all ${ITEMS} items; ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
  });
});
