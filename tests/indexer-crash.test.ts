/**
 * Crash and shutdown safety with real processes on real Redis:
 * - SIGKILL a worker in the middle of an import, start a new one → the import completes (BullMQ's
 *   stalled-job check hands the killed worker's job to another), nothing lost or duplicated;
 * - SIGTERM a worker mid-job → it publishes what it finished, hands the job back and exits 0.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  deleteQueueKeys,
  diffIds,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  readPublished,
  runImport,
  sampleCsv,
  sharedRedisUrl,
  startIndexer,
  tempDir,
  uniquePrefix,
  type ServiceProcess,
} from './support';

jest.setTimeout(300_000);

/** Short locks so a killed worker's job is recovered in seconds, not the production 30 s. */
const FAST_RECOVERY = { JOB_LOCK_MS: '4000', STALLED_INTERVAL_MS: '2000', ITEM_CONCURRENCY: '2' };

describe('indexer: crash and shutdown safety', () => {
  const workers: ServiceProcess[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await killAllProcesses();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function setup(label: string, rows: number) {
    const prefix = uniquePrefix(label);
    const data = tempDir(`${label}-data`);
    const { text, ids } = sampleCsv(rows);
    const csv = path.join(data.dir, 'catalogue.csv');
    writeFileSync(csv, text);
    cleanups.push(
      () => deleteQueueKeys(sharedRedisUrl, prefix),
      () => data.remove(),
    );
    const env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
      extra: FAST_RECOVERY,
    });
    return { env, csv, ids, dataDir: data.dir };
  }

  it('SIGKILL mid-import: a new worker takes over, nothing lost or duplicated', async () => {
    const { env, csv, ids, dataDir } = setup('sigkill', 300);
    workers.push(await startIndexer('indexer-a', env), await startIndexer('indexer-b', env));
    const [victim] = workers;
    const importing = runImport(
      ['--csv', csv, '--images', fashionImagesDir, '--batch-size', '25', '--wait'],
      env,
      240_000,
    );
    // Kill it as soon as it starts another job after finishing one: at least one job acknowledged,
    // one in flight (a job of 25 items takes a few hundred ms).
    const count = (msg: string) => victim!.logs.filter((l) => l.msg === msg).length;
    await victim!.waitForLog((l) => l.msg === 'job done', 120_000, 'a first finished job');
    const startedSoFar = count('job started');
    await victim!.waitForLog(
      (l) => l.msg === 'job started' && count('job started') > startedSoFar,
      60_000,
      'another job',
    );
    const inFlight = count('job started') - count('job done');
    const status = await victim!.kill();
    expect(inFlight).toBeGreaterThan(0);
    expect(status.signal).toBe('SIGKILL');
    workers.push(await startIndexer('indexer-c', env));

    const run = await importing;
    if (run.code !== 0) throw new Error(`import failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    const summary = run.summary!;
    expect(summary.failed).toEqual([]);
    expect(summary.failedJobs).toEqual([]);
    // The killed jobs ran again from the start on another worker; every item counts as indexed.
    expect(summary.indexed).toBe(300);
    expect(summary.unchanged).toBe(0);
    const stalledNotices = workers
      .slice(1)
      .flatMap((w) => w.logs.filter((l) => l.msg === 'stalled job moved back to the queue'));
    expect(stalledNotices.length).toBeGreaterThanOrEqual(1);
    const published = await readPublished(dataDir);
    expect(published?.count).toBe(300);
    expect(diffIds(published?.ids ?? [], ids)).toEqual({ missing: [], duplicates: [], extra: [] });
  });

  it('SIGTERM mid-job: finished items are published, the job is handed back, the worker exits 0', async () => {
    const { env, csv, ids, dataDir } = setup('sigterm', 300);
    // One job at a time, one item at a time: the SIGTERM surely lands in the middle of a job.
    const leaving = await startIndexer('indexer-leaving', {
      ...env,
      WORKER_CONCURRENCY: '1',
      ITEM_CONCURRENCY: '1',
    });
    workers.push(leaving);
    const importing = runImport(
      ['--csv', csv, '--images', fashionImagesDir, '--batch-size', '150', '--wait'],
      env,
      240_000,
    );
    await leaving.waitForLog((l) => l.msg === 'job started', 60_000, 'a job');
    await new Promise((r) => setTimeout(r, 1000));
    const stopping = Date.now();
    const status = await leaving.stop(30_000);
    expect(status).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopping).toBeLessThan(15_000);
    const handedBack = leaving.logs.find((l) => String(l.msg).includes('job handed back'));
    expect(handedBack).toBeDefined();
    expect(leaving.logs.some((l) => l.msg === 'closed')).toBe(true);

    workers.push(await startIndexer('indexer-taking-over', env));
    const run = await importing;
    if (run.code !== 0) throw new Error(`import failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    expect(run.summary?.failedJobs).toEqual([]);
    // The leaving worker published what it had finished before handing back.
    expect(Number(handedBack?.indexed)).toBeGreaterThan(0);
    expect(run.summary!.indexed).toBe(300);
    const published = await readPublished(dataDir);
    expect(diffIds(published?.ids ?? [], ids)).toEqual({ missing: [], duplicates: [], extra: [] });
  });
});
