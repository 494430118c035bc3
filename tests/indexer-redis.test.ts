/**
 * Redis restarted in the middle of an import (stopped for 5 s, AOF persistence, its own
 * redis-server — the shared one is never touched) → the import completes, nothing lost.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  diffIds,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  PrivateRedis,
  readPublished,
  runImport,
  sampleCsv,
  sleep,
  startIndexer,
  sumLogField,
  tempDir,
  uniquePrefix,
  type ServiceProcess,
} from './support';

jest.setTimeout(300_000);

describe('indexer: Redis restart mid-import', () => {
  let redis: PrivateRedis | undefined;
  const workers: ServiceProcess[] = [];
  const data = tempDir('redis-data');

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await killAllProcesses();
    await redis?.destroy();
    data.remove();
  });

  it('completes the import with nothing lost after Redis was down for 5 s', async () => {
    redis = await PrivateRedis.start();
    const { text, ids } = sampleCsv(400);
    const csv = path.join(data.dir, 'catalogue.csv');
    writeFileSync(csv, text);
    const env = indexerEnv({
      redisUrl: redis.url,
      prefix: uniquePrefix('redis'),
      dataDir: path.join(data.dir, 'index'),
      catalogueRoot: fashionImagesDir,
      extra: { ITEM_CONCURRENCY: '2' },
    });
    workers.push(await startIndexer('indexer-a', env), await startIndexer('indexer-b', env));
    const importing = runImport(
      ['--csv', csv, '--images', fashionImagesDir, '--batch-size', '25', '--wait'],
      env,
      240_000,
    );

    // Stop Redis once a few of the 16 jobs are done and most are still to come.
    const jobsDone = () => workers.reduce((n, w) => n + w.logs.filter((l) => l.msg === 'job done').length, 0);
    const deadline = Date.now() + 120_000;
    while (jobsDone() < 3 && Date.now() < deadline) await sleep(100);
    expect(jobsDone()).toBeGreaterThanOrEqual(3);
    expect(jobsDone()).toBeLessThan(12);
    await redis.stop();
    const doneWhileStopping = jobsDone();
    await sleep(5000);
    await redis.start();
    console.log(`redis was down for 5 s after ${doneWhileStopping} of 16 jobs`);

    const run = await importing;
    if (run.code !== 0) throw new Error(`import failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    expect(run.summary?.failed).toEqual([]);
    expect(run.summary?.failedJobs).toEqual([]);
    expect(run.summary!.indexed).toBe(400);
    expect(sumLogField(workers, 'job done', 'indexed')).toBeGreaterThanOrEqual(400);
    const published = await readPublished(path.join(data.dir, 'index'));
    expect(published?.count).toBe(400);
    expect(diffIds(published?.ids ?? [], ids)).toEqual({ missing: [], duplicates: [], extra: [] });
    // Both workers survived the outage.
    expect(workers.every((w) => w.running)).toBe(true);
  });
});
