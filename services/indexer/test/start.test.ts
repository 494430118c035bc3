import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { SnapshotReader, SnapshotWriter, type Snapshot } from '@lookalike/index-store';
import {
  CATALOGUE_QUEUE,
  CatalogueQueue,
  createRedisConnection,
  closeRedisConnection,
} from '@lookalike/queue';
// Importing the entry point must not start the service (it runs only as `node dist/main.js`).
import { start, type RunningIndexer } from '../src/main';
import { SAMPLE_IDS, makeCatalogue, modelCacheDir, modelMirror, silentLogger } from './helpers';

jest.setTimeout(120_000);

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The published snapshot's model and items, read as the API reads them; null before the first one. */
async function published(dataDir: string): Promise<Pick<Snapshot, 'model' | 'count'> & { ids: string[] }> {
  const reader = await SnapshotReader.open({ dataDir, pollIntervalMs: 60_000 });
  try {
    const snapshot = reader.current();
    if (!snapshot) throw new Error('nothing published');
    return { model: { ...snapshot.model }, count: snapshot.count, ids: [...snapshot.ids()].sort() };
  } finally {
    await reader.close();
  }
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined && done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('start()', () => {
  const prefix = `lookalike-test-${randomUUID()}`;
  let dataDir: string;
  let catalogue: ReturnType<typeof makeCatalogue>;
  let indexer: RunningIndexer | undefined;
  let queue: CatalogueQueue;

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'indexer-start-'));
    catalogue = makeCatalogue();
    queue = new CatalogueQueue({ redisUrl: REDIS_URL, prefix });
  });

  afterAll(async () => {
    await indexer?.close();
    await queue.close();
    const admin = createRedisConnection(REDIS_URL, 'worker');
    const bull = new Queue(CATALOGUE_QUEUE, { connection: admin, prefix });
    await bull.obliterate({ force: true });
    await bull.close();
    const leftovers = await admin.keys(`${prefix}*`);
    if (leftovers.length > 0) await admin.del(...leftovers);
    await closeRedisConnection(admin);
    catalogue.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs an indexer in-process: reindexes after a model change, consumes jobs, closes', async () => {
    // A snapshot of "another model", as a deployment that changed MODEL finds it.
    const old = await SnapshotWriter.open({
      dataDir,
      model: { id: 'old-model', sha256: '0'.repeat(64), dimension: 4 },
    });
    await old.publish({
      upserts: [
        {
          id: 'kept',
          vector: new Float32Array([1, 0, 0, 0]),
          metadata: { colour: 'blue' },
          source: { imagePath: `${SAMPLE_IDS[0]}.jpg` },
          contentHash: 'old',
        },
      ],
      deletes: [],
    });
    await old.close();

    indexer = await start(
      {
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        DATA_DIR: dataDir,
        CATALOGUE_ROOT: catalogue.root,
        MODEL: 'mobilenetv2-12-int8',
        MODEL_CACHE_DIR: modelCacheDir,
        MODEL_MIRROR: modelMirror,
        EMBEDDER_SESSIONS: '1',
        PUBLISH_DEBOUNCE_MS: '50',
        LOG_LEVEL: 'silent',
      },
      silentLogger,
    );
    expect(indexer.config.QUEUE_PREFIX).toBe(prefix);

    // AUTO_REINDEX queued the reindex through the queue package; the worker replaced the snapshot.
    const reindexed = await until(
      () => published(dataDir),
      (p) => p.model.id === 'mobilenetv2-12-int8',
      'the model-change reindex',
    );
    expect(reindexed.ids).toEqual(['kept']);

    const jobId = await queue.enqueue({
      kind: 'upsert',
      items: [{ id: 'added', imagePath: `${SAMPLE_IDS[1]}.jpg`, metadata: { colour: 'red' } }],
    });
    const status = await until(
      () => queue.getJob(jobId),
      (s) => s?.state === 'completed',
      'the upsert job',
    );
    expect(status?.result).toMatchObject({ indexed: ['added'], failed: [] });
    expect((await published(dataDir)).ids).toEqual(['added', 'kept']);

    await indexer.close();
    await indexer.close(); // idempotent
    indexer = undefined;
  });
});
