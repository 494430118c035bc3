/**
 * A model change end to end: workers restarted with another MODEL find a snapshot of the old model,
 * queue one reindex (AUTO_REINDEX), defer upserts until it is published, and replace the snapshot
 * atomically with the new model's vectors.
 */
import { CatalogueQueue } from '@lookalike/queue';
import {
  deleteQueueKeys,
  diffIds,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  readPublished,
  sampleCsv,
  sharedRedisUrl,
  startIndexer,
  tempDir,
  uniquePrefix,
  waitForJob,
  type ServiceProcess,
} from './support';

jest.setTimeout(180_000);

describe('indexer: model change', () => {
  const prefix = uniquePrefix('model');
  const data = tempDir('model-data');
  let queue: CatalogueQueue;
  const workers: ServiceProcess[] = [];

  afterAll(async () => {
    await queue?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  it('reindexes everything with the new model once, and deferred upserts land afterwards', async () => {
    queue = new CatalogueQueue({ redisUrl: sharedRedisUrl, prefix });
    const { ids } = sampleCsv(60);
    const base = { redisUrl: sharedRedisUrl, prefix, dataDir: data.dir, catalogueRoot: fashionImagesDir };
    const items = (list: string[]) => list.map((id) => ({ id, imagePath: `${id}.jpg`, metadata: { n: id } }));

    const oldWorker = await startIndexer('indexer-default-model', indexerEnv(base));
    workers.push(oldWorker);
    const first = await waitForJob(
      queue,
      await queue.enqueue({ kind: 'upsert', items: items(ids.slice(0, 50)) }),
      60_000,
    );
    expect(first.result?.indexed).toHaveLength(50);
    const before = await readPublished(data.dir);
    expect(before?.model).toMatchObject({ id: 'mobilenetv2-shufflenetv2-int8', dimension: 2304 });
    await oldWorker.stop();

    // While no worker runs: an upsert that will have to wait for the reindex.
    const lateJob = await queue.enqueue({ kind: 'upsert', items: items(ids.slice(50, 60)) });
    const env = indexerEnv({ ...base, extra: { MODEL: 'shufflenet-v2-12-qdq' } });
    const newWorkers = await Promise.all([
      startIndexer('indexer-shufflenet-a', env),
      startIndexer('indexer-shufflenet-b', env),
    ]);
    workers.push(...newWorkers);

    const late = await waitForJob(queue, lateJob, 120_000);
    expect(late.state).toBe('completed');
    expect(late.result?.indexed).toHaveLength(10);
    const after = await readPublished(data.dir);
    expect(after?.model).toMatchObject({ id: 'shufflenet-v2-12-qdq', dimension: 1024 });
    expect(diffIds(after?.ids ?? [], ids)).toEqual({ missing: [], duplicates: [], extra: [] });

    // One reindex for both replicas, and the upsert was deferred rather than failed.
    const queued = newWorkers.flatMap((w) =>
      w.logs.filter((l) => String(l.msg).startsWith('the published snapshot was built with another model')),
    );
    expect(new Set(queued.map((l) => l.jobId)).size).toBe(1);
    const reindexDone = newWorkers.flatMap((w) => w.logs.filter((l) => l.msg === 'reindex done'));
    expect(reindexDone).toHaveLength(1);
    expect(reindexDone[0]).toMatchObject({ indexed: 50, failed: 0, modelChanged: true });
    expect(late.attemptsMade).toBe(1);
    expect(
      newWorkers.flatMap((w) => w.logs.filter((l) => l.msg === 'job deferred' && l.jobId === lateJob)),
    ).not.toHaveLength(0);
  });
});
