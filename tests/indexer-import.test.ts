/**
 * Acceptance: the whole fashion sample (5,885 photos) through `lookalike import --wait` with two
 * real indexer processes on real Redis; every id ends up in the published snapshot exactly once.
 * Then the same import again: nothing is embedded, the job results say every item is unchanged.
 *
 * Needs a root `pnpm build` (it runs services/indexer/dist and packages/cli/dist).
 */
import { readFileSync } from 'node:fs';
import { SnapshotReader } from '@lookalike/index-store';
import {
  deleteQueueKeys,
  diffIds,
  fashionCsv,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  rankingAtRest,
  readPublished,
  runImport,
  sharedRedisUrl,
  startIndexer,
  sumLogField,
  tempDir,
  uniquePrefix,
  type ServiceProcess,
} from './support';

jest.setTimeout(420_000);

const allIds = readFileSync(fashionCsv, 'utf8')
  .split('\n')
  .slice(1)
  .filter((line) => line.trim() !== '')
  .map((line) => line.split(',')[0]!);

describe('indexer: full sample import with two workers', () => {
  const prefix = uniquePrefix('import');
  const data = tempDir('import-data');
  let env: Record<string, string>;
  let workers: ServiceProcess[] = [];

  beforeAll(async () => {
    env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
    });
    workers = await Promise.all([startIndexer('indexer-a', env), startIndexer('indexer-b', env)]);
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  it('indexes all 5,885 photos; every id is in the published snapshot exactly once', async () => {
    expect(allIds).toHaveLength(5885);
    const started = Date.now();
    const run = await runImport(['--csv', fashionCsv, '--images', fashionImagesDir, '--wait'], env, 360_000);
    const seconds = (Date.now() - started) / 1000;
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const summary = run.summary!;
    expect(summary).toMatchObject({
      items: 5885,
      jobs: 12,
      indexed: 5885,
      unchanged: 0,
      failedItems: 0,
      failed: [],
      failedJobs: [],
    });

    const published = await readPublished(data.dir);
    expect(published?.count).toBe(5885);
    expect(diffIds(published?.ids ?? [], allIds)).toEqual({ missing: [], duplicates: [], extra: [] });
    // The CSV's metadata as given; where the image came from is the item's own `source` field.
    expect(published?.metadataOf('1563')).toMatchObject({ articleType: 'Tshirts', baseColour: 'Blue' });
    expect(published?.metadataOf('1563')).not.toHaveProperty('_source');
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    try {
      expect(reader.current()?.get('1563')?.source).toEqual({ imagePath: '1563.jpg' });
    } finally {
      await reader.close();
    }

    // Both replicas worked, and publishing was batched: far fewer snapshots than jobs × items.
    const embeddedPerWorker = workers.map((w) => sumLogField([w], 'job done', 'indexed'));
    expect(embeddedPerWorker.every((n) => n > 0)).toBe(true);
    expect(embeddedPerWorker[0]! + embeddedPerWorker[1]!).toBe(5885);
    const publishes = workers.reduce(
      (n, w) => n + w.logs.filter((l) => l.msg === 'changes published').length,
      0,
    );
    expect(publishes).toBeLessThanOrEqual(12);
    const publishMs = workers.flatMap((w) =>
      w.logs.filter((l) => l.msg === 'changes published').map((l) => Number(l.durationMs)),
    );
    console.log(
      `import of 5,885 photos with 2 workers: ${seconds.toFixed(1)} s (${(5885 / seconds).toFixed(1)} images/s), ${publishes} publishes (max ${Math.max(...publishMs)} ms), per worker ${embeddedPerWorker.join(' + ')}`,
    );
  });

  it('re-running the same import computes zero embeddings and reports every item unchanged', async () => {
    // The import's last publish may still be followed by a ranking fit publishing a version of its own.
    await rankingAtRest(workers, data.dir);
    const before = await readPublished(data.dir);
    const embeddedBefore = sumLogField(workers, 'job done', 'indexed');
    const started = Date.now();
    const run = await runImport(['--csv', fashionCsv, '--images', fashionImagesDir, '--wait'], env, 300_000);
    const seconds = (Date.now() - started) / 1000;
    expect(run.code).toBe(0);
    expect(run.summary).toMatchObject({
      items: 5885,
      indexed: 0,
      unchanged: 5885,
      failedItems: 0,
      failed: [],
      failedJobs: [],
      version: null,
    });
    expect(sumLogField(workers, 'job done', 'indexed')).toBe(embeddedBefore);
    const after = await readPublished(data.dir);
    expect(after?.version).toBe(before?.version);
    console.log(`re-import (all unchanged): ${seconds.toFixed(1)} s`);
  });
});
