/**
 * Learned ranking end to end: a real indexer (real Redis, ONNX, faiss) imports 150 labelled sample
 * photos, fits the ranking from their articleType labels in a worker thread and publishes it as
 * snapshot attachments; a real API applies it to queries by upload and by id. The expected results
 * are recomputed here from the published snapshot with @lookalike/ranking, and must differ from plain
 * nearest neighbours for some queries (so a route that ignored the ranking would fail).
 *
 * Needs a root `pnpm build` (it runs the services and the CLI from dist).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { SnapshotReader, type Snapshot } from '@lookalike/index-store';
import {
  RANKING_ITEMS_ATTACHMENT,
  RANKING_MODEL_ATTACHMENT,
  decodeRankingModel,
  rankedSearch,
  rankedSearchById,
} from '@lookalike/ranking';
import { multipartBody } from '../services/api/test/fixtures';
import {
  apiEnv,
  deleteQueueKeys,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  modelCacheDir,
  modelMirror,
  pollUntil,
  runImport,
  sampleCsv,
  sharedRedisUrl,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';

jest.setTimeout(300_000);

interface Hit {
  id: string;
  score: number;
}

describe('learned ranking: fitted by the indexer, stored in the snapshot, applied by the API', () => {
  const prefix = uniquePrefix('ranking');
  const data = tempDir('ranking-data');
  const { text, ids } = sampleCsv(150);
  let indexer: ServiceProcess;
  let api: RunningApi;
  let reader: SnapshotReader;
  let embedder: Embedder;

  beforeAll(async () => {
    const env = indexerEnv({
      redisUrl: sharedRedisUrl,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
      extra: { RANKING_MIN_LABELLED: '30', PUBLISH_DEBOUNCE_MS: '200' },
    });
    indexer = await startIndexer('indexer-ranking', env);
    const csv = path.join(data.dir, 'catalogue.csv');
    writeFileSync(csv, text);
    const run = await runImport(['--csv', csv, '--images', fashionImagesDir, '--wait'], env, 240_000);
    expect(run.code).toBe(0);
    api = await startApi('api-ranking', apiEnv({ redisUrl: sharedRedisUrl, prefix, dataDir: data.dir }));
    embedder = await createEmbedder({
      model: 'mobilenetv2-shufflenetv2-int8',
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 1,
    });
  });

  afterAll(async () => {
    await reader?.close();
    await embedder?.close();
    await api?.process.stop();
    await indexer?.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  async function rankedSnapshot(): Promise<Snapshot> {
    reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 200 });
    // The fit follows the import's publish: wait for the snapshot that carries the model.
    return pollUntil(
      () => {
        const snapshot = reader.current();
        return snapshot?.attachmentNames().includes(RANKING_MODEL_ATTACHMENT) && snapshot.count === ids.length
          ? snapshot
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, description: 'a snapshot with the ranking model' },
    );
  }

  async function similarById(id: string): Promise<Hit[]> {
    // The API may still be on the version before the fit: wait until it serves the ranked one.
    const reply = await fetch(`${api.url}/v1/items/${id}/similar?k=5`);
    expect(reply.status).toBe(200);
    return ((await reply.json()) as { results: Hit[] }).results;
  }

  test('the indexer fits the model from articleType and publishes it with per-item features', async () => {
    const snapshot = await rankedSnapshot();
    expect(snapshot.attachmentNames()).toEqual(
      expect.arrayContaining([RANKING_MODEL_ATTACHMENT, RANKING_ITEMS_ATTACHMENT]),
    );
    const model = decodeRankingModel(snapshot.attachment(RANKING_MODEL_ATTACHMENT)!);
    expect(model.labelFields).toEqual(['articleType', 'subCategory']);
    expect(model.colourField).toBe('baseColour');
    expect(model.stats.labelled).toBe(ids.length);
    expect(model.lda).not.toBeNull();
    expect(model.lda!.dimensions).toBeGreaterThan(1);
    // The indexer logs the fit after its publish returns, so the snapshot can be seen first.
    const logged = await pollUntil(
      async () =>
        indexer.logs.some((l) => l.msg === 'ranking model fitted and published') ? true : undefined,
      { timeoutMs: 15_000, intervalMs: 100, description: "the indexer's log of the fit" },
    );
    expect(logged).toBe(true);
  });

  test('queries by id and by upload are re-ranked with the published model', async () => {
    const snapshot = await rankedSnapshot();
    await pollUntil(
      async () => {
        const reply = await fetch(`${api.url}/v1/items/${ids[0]}/similar?k=1`);
        const body = (await reply.json()) as { indexVersion: number };
        return body.indexVersion === snapshot.version ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the API on the ranked snapshot' },
    );
    let differsFromPlain = 0;
    for (const id of ids.slice(0, 12)) {
      const expected = rankedSearchById(snapshot, id, { k: 5 });
      const actual = await similarById(id);
      expect(actual.map((h) => h.id)).toEqual(expected.map((h) => h.id));
      actual.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i]!.score, 4));
      const plain = snapshot.searchById(id, { k: 5 }).map((h) => h.id);
      if (plain.join() !== expected.map((h) => h.id).join()) differsFromPlain++;
    }
    expect(differsFromPlain).toBeGreaterThan(0);

    differsFromPlain = 0;
    for (const id of ids.slice(20, 28)) {
      const image = readFileSync(path.join(fashionImagesDir, `${id}.jpg`));
      const form = multipartBody([
        { name: 'image', filename: `${id}.jpg`, contentType: 'image/jpeg', data: image },
        { name: 'k', value: '5' },
      ]);
      const reply = await fetch(`${api.url}/v1/similar`, {
        method: 'POST',
        headers: { 'content-type': form.contentType },
        body: form.body,
      });
      expect(reply.status).toBe(200);
      const actual = ((await reply.json()) as { results: Hit[] }).results;
      const query = await embedder.embed(image);
      const expected = rankedSearch(snapshot, query, { k: 5 });
      expect(actual.map((h) => h.id)).toEqual(expected.map((h) => h.id));
      expect(actual[0]?.id).toBe(id);
      const plain = snapshot.search(query.vector, { k: 5 }).map((h) => h.id);
      if (plain.join() !== expected.map((h) => h.id).join()) differsFromPlain++;
    }
    expect(differsFromPlain).toBeGreaterThan(0);
  });
});
