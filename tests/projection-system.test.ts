/**
 * The learned projection end to end: a real indexer (real Redis, ONNX, faiss) and a real API on one
 * data directory, PROJECTION_MIN_ITEMS=40. Below the minimum the snapshot serves raw embeddings; an
 * import past it makes the indexer fit a projection in its worker thread and publish it alone — every
 * item re-projected from its stored raw vector, nothing embedded again — while queries by id against
 * the API keep answering 200 throughout.
 *
 * Needs a root `pnpm build` (it runs the services and the CLI from dist).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotReader, type Snapshot } from '@lookalike/index-store';
import {
  apiEnv,
  deleteQueueKeys,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  pollUntil,
  runImport,
  sampleCsv,
  sharedRedisUrl,
  startApi,
  startIndexer,
  sumLogField,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';

jest.setTimeout(300_000);

describe('learned projection: fitted by the indexer past PROJECTION_MIN_ITEMS, served by the API', () => {
  const prefix = uniquePrefix('projection');
  const data = tempDir('projection-data');
  const { text, ids } = sampleCsv(60);
  const header = text.split('\n')[0] as string;
  const rows = text.split('\n').slice(1).filter(Boolean);
  let env: Record<string, string>;
  let indexer: ServiceProcess;
  let api: RunningApi;

  beforeAll(async () => {
    env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
      extra: { INDEX_PROJECTION: 'pca-whiten:32', PROJECTION_MIN_ITEMS: '40', PUBLISH_DEBOUNCE_MS: '200' },
    });
    indexer = await startIndexer('indexer-projection', env);
  });

  afterAll(async () => {
    await api?.process.stop();
    await indexer?.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  async function importRows(from: number, to: number): Promise<void> {
    const csv = path.join(data.dir, `catalogue-${from}.csv`);
    writeFileSync(csv, [header, ...rows.slice(from, to)].join('\n') + '\n');
    const run = await runImport(['--csv', csv, '--images', fashionImagesDir, '--wait'], env, 240_000);
    expect(run.code).toBe(0);
    expect(run.summary).toMatchObject({ indexed: to - from, failedItems: 0 });
  }

  async function latest(): Promise<Snapshot> {
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    try {
      return reader.current() as Snapshot;
    } finally {
      await reader.close();
    }
  }

  test('below the minimum raw embeddings are served; past it a projection is published without re-embedding while by-id queries keep answering', async () => {
    await importRows(0, 30);
    api = await startApi(
      'api-projection',
      apiEnv({ redisUrl: sharedRedisUrl, prefix, dataDir: data.dir, extra: { RATE_LIMIT_MAX: '1000000' } }),
    );
    const raw = await latest();
    expect(raw.count).toBe(30);
    expect(raw.projection).toBeNull();
    expect(raw.dimension).toBe(raw.model.dimension);
    const rawIndex = (await (await fetch(`${api.url}/v1/index`)).json()) as Record<string, unknown>;
    expect(rawIndex).toMatchObject({ count: 30 });
    expect(rawIndex).toMatchObject({ projection: null, dimension: raw.model.dimension });
    expect(indexer.logs.filter((l) => l.msg === 'projection fit started')).toHaveLength(0);

    // By-id queries in a loop against the API for the whole import + refit.
    const statuses = new Map<number, number>();
    let errors = 0;
    const failures: string[] = [];
    let stop = false;
    const loop = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const reply = await fetch(`${api.url}/v1/items/${ids[i % 30]}/similar?k=5`);
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          const body = (await reply.json()) as { results?: unknown[] };
          if (reply.status !== 200 || !Array.isArray(body.results) || body.results.length !== 5) {
            errors++;
            if (failures.length < 3) failures.push(`${reply.status} ${JSON.stringify(body).slice(0, 300)}`);
          }
        } catch {
          errors++;
        }
      }
    })();

    try {
      await importRows(30, 60);
      const embeddedByImports = sumLogField([indexer], 'job done', 'indexed');
      expect(embeddedByImports).toBe(60);
      const published = await indexer.waitForLog(
        (l) => l.msg === 'projection fit published',
        120_000,
        'projection fit published',
      );
      expect(published).toMatchObject({ fittedOn: 60, outputDimension: 32 });
      const projected = await latest();
      expect(projected.count).toBe(60);
      expect(projected.projection).toMatchObject({
        fittedOn: 60,
        outputDimension: 32,
        kind: 'pca-whiten:32',
      });
      expect(projected.dimension).toBe(32);
      // The API follows to the projected version (or a later one) and keeps answering.
      await pollUntil(
        async () => {
          const index = (await (await fetch(`${api.url}/v1/index`)).json()) as { version: number };
          return index.version >= projected.version ? index : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, description: 'the API serving the projected version' },
      );
      // …and says which projection it serves.
      const servedIndex = (await (await fetch(`${api.url}/v1/index`)).json()) as Record<string, unknown>;
      expect(servedIndex).toMatchObject({
        dimension: 32,
        embeddingDimension: raw.model.dimension,
        projection: { kind: 'pca-whiten:32', fittedOn: 60, outputDimension: 32 },
      });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // The refit embedded nothing: the job logs still count the imports' 60 and no job ran since.
      expect(sumLogField([indexer], 'job done', 'indexed')).toBe(60);
      const started = indexer.logs.find((l) => l.msg === 'projection fit started');
      console.log(
        `projection fit: fittedOn ${String(published.fittedOn)}, rows ${String(published.rows)}, ` +
          `${String(published.inputDimension)} → ${String(published.outputDimension)}, fit ${String(published.fitMs)} ms, ` +
          `total ${String(published.totalMs)} ms (${String(started?.reason)}); by-id statuses ${JSON.stringify([...statuses])}`,
      );
    } finally {
      stop = true;
      await loop;
    }
    const apiErrors = api.process.logs
      .filter((l) => Number(l.level) >= 50)
      .slice(0, 3)
      .map((l) => JSON.stringify(l).slice(0, 1500));
    expect({ failures, apiErrors }).toEqual({ failures: [], apiErrors: [] });
    expect(errors).toBe(0);
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(20);

    // Queries in the projected space: an item's nearest neighbour by id is answered from 32-d vectors.
    const reply = await fetch(`${api.url}/v1/items/${ids[45]}/similar?k=3`);
    expect(reply.status).toBe(200);
  });
});
