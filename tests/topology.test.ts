/**
 * The compose topology as local processes: a Redis of its own, two indexer replicas and the API
 * sharing one data dir. Import a real catalogue while one indexer is SIGKILLed and restarted, then
 * query, update and delete through the public API, which hot-reloads every published snapshot.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  apiEnv,
  diffIds,
  fashionImagesDir,
  indexerEnv,
  killAllProcesses,
  pollUntil,
  PrivateRedis,
  readPublished,
  runImport,
  sampleCsv,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';

jest.setTimeout(420_000);

const ROWS = 160;

interface Hit {
  id: string;
  score: number;
  similarity: number;
  metadata: Record<string, string | number>;
}
interface SimilarResponse {
  indexVersion: number;
  model: string;
  results: Hit[];
}

describe('compose topology as processes: redis + 2 indexers + api on one data dir', () => {
  let redis: PrivateRedis;
  let api: RunningApi;
  const indexers: ServiceProcess[] = [];
  const data = tempDir('topology');
  const prefix = uniquePrefix('topology');
  const { text, ids } = sampleCsv(ROWS);
  const csv = path.join(data.dir, 'styles.csv');
  let env: Record<string, string>;

  const get = async <T>(route: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(api.url + route);
    return { status: res.status, body: (await res.json()) as T };
  };
  const send = async <T>(method: string, route: string, body?: unknown) => {
    const res = await fetch(api.url + route, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const similarToPhoto = async (photoId: string, k = 5): Promise<SimilarResponse> => {
    const form = new FormData();
    form.append('image', new Blob([readFileSync(path.join(fashionImagesDir, `${photoId}.jpg`))]), 'q.jpg');
    form.append('k', String(k));
    const res = await fetch(`${api.url}/v1/similar`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    return (await res.json()) as SimilarResponse;
  };
  const finishedJob = (jobId: string) =>
    pollUntil(
      async () => {
        const { body } = await get<{
          state: string;
          result: { indexed: string[]; deleted: string[] } | null;
        }>(`/v1/jobs/${jobId}`);
        return body.state === 'completed' || body.state === 'failed' ? body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: `job ${jobId}` },
    );
  const liveVersion = async () => (await get<{ version: number; count: number }>('/v1/index')).body;

  beforeAll(async () => {
    writeFileSync(csv, text);
    redis = await PrivateRedis.start();
    env = indexerEnv({
      redisUrl: redis.url,
      prefix,
      dataDir: data.dir,
      catalogueRoot: fashionImagesDir,
      // Short job locks: a SIGKILLed replica's job goes back to the queue in seconds.
      extra: { JOB_LOCK_MS: '4000', STALLED_INTERVAL_MS: '2000', ITEM_CONCURRENCY: '2' },
    });
    [api] = await Promise.all([
      startApi(
        'api',
        apiEnv({ redisUrl: redis.url, prefix, dataDir: data.dir, catalogueRoot: fashionImagesDir }),
      ),
      startIndexer('indexer-1', env).then((p) => indexers.push(p)),
      startIndexer('indexer-2', env).then((p) => indexers.push(p)),
    ]);
  });

  afterAll(async () => {
    await Promise.all([api?.process.stop(), ...indexers.map((i) => i.stop())]);
    await killAllProcesses();
    await redis?.destroy();
    data.remove();
  });

  it('starts empty: alive, not ready, and says why', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get<{ checks?: { snapshot: { ok: boolean }; redis: { ok: boolean } } }>('/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body)).toContain('no index snapshot yet');
    expect(ready.body.checks).toMatchObject({ snapshot: { ok: false }, redis: { ok: true } });
  });

  it('imports the catalogue while an indexer is killed and restarted mid-import', async () => {
    const importing = runImport(
      ['--csv', csv, '--images', fashionImagesDir, '--batch-size', '20', '--wait'],
      env,
      300_000,
    );
    const victim = indexers[0]!;
    await victim.waitForLog((l) => l.msg === 'job done', 180_000, 'a finished job');
    await victim.waitForLog(
      (l) =>
        l.msg === 'job started' &&
        victim.logs.filter((x) => x.msg === 'job started').length >
          victim.logs.filter((x) => x.msg === 'job done').length,
      60_000,
      'a job in flight',
    );
    const status = await victim.kill();
    expect(status.signal).toBe('SIGKILL');
    indexers[0] = await startIndexer('indexer-1-restarted', env);

    const result = await importing;
    expect({ code: result.code, stderr: result.stderr.slice(-2000) }).toEqual({
      code: 0,
      stderr: expect.any(String),
    });
    expect(result.summary?.failed).toEqual([]);
    expect(result.summary!.indexed + result.summary!.unchanged).toBe(ROWS);

    const published = await readPublished(data.dir);
    expect(diffIds(published!.ids, ids)).toEqual({ missing: [], duplicates: [], extra: [] });
    // The API swapped the newest snapshot in by itself.
    const live = await pollUntil(
      async () => {
        const index = await liveVersion();
        return index.version === published!.version ? index : undefined;
      },
      { timeoutMs: 15_000, description: 'the API to serve the published version' },
    );
    expect(live.count).toBe(ROWS);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('answers queries by upload and by id from the live snapshot', async () => {
    const target = ids[7]!;
    const byUpload = await similarToPhoto(target);
    expect(byUpload.results).toHaveLength(5);
    expect(byUpload.results[0]).toMatchObject({ id: target });
    expect(byUpload.results[0]!.score).toBeGreaterThan(0.99);
    expect(byUpload.results[0]!.metadata).toHaveProperty('articleType');

    const byId = await get<SimilarResponse>(`/v1/items/${target}/similar?k=5`);
    expect(byId.status).toBe(200);
    expect(byId.body.results).toHaveLength(5);
    expect(byId.body.results.map((r) => r.id)).not.toContain(target);
    const scores = byId.body.results.map((r) => r.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  it('an update (new image and metadata) is served after the reload, without restarting the API', async () => {
    const [changed, donor] = [ids[10]!, ids[11]!];
    const before = await liveVersion();
    const accepted = await send<{ jobId: string }>('POST', '/v1/items', {
      items: [
        { id: changed, imagePath: `${donor}.jpg`, metadata: { articleType: 'Relabelled', season: 'Test' } },
      ],
    });
    expect(accepted.status).toBe(202);
    const job = await finishedJob(accepted.body.jobId);
    expect(job.state).toBe('completed');
    expect(job.result?.indexed).toEqual([changed]);

    const item = await pollUntil(
      async () => {
        const res = await get<{ metadata: Record<string, unknown>; indexVersion: number }>(
          `/v1/items/${changed}`,
        );
        return res.body.metadata.articleType === 'Relabelled' ? res.body : undefined;
      },
      { timeoutMs: 15_000, description: 'the update to be served' },
    );
    expect(item.indexVersion).toBeGreaterThan(before.version);
    expect(item.metadata).toEqual({ articleType: 'Relabelled', season: 'Test' });
    // Both items now show the donor's photo: an upload of it finds both, each at cosine ≈ 1. (Their
    // order among the first few is the learned ranking's: it also weighs label votes, and the changed
    // item's new labels agree with none of its neighbours'.)
    const top = (await similarToPhoto(donor, 5)).results;
    for (const id of [changed, donor]) {
      const hit = top.find((r) => r.id === id);
      expect(hit).toBeDefined();
      expect(hit!.similarity).toBeGreaterThan(0.99);
    }
  });

  it('a delete disappears from results and lookups after the reload', async () => {
    const [gone, twin] = [ids[11]!, ids[10]!];
    const accepted = await send<{ jobId: string }>('DELETE', `/v1/items/${gone}`);
    expect(accepted.status).toBe(202);
    const job = await finishedJob(accepted.body.jobId);
    expect(job.state).toBe('completed');
    expect(job.result?.deleted).toEqual([gone]);

    await pollUntil(async () => (await get(`/v1/items/${gone}`)).status === 404, {
      timeoutMs: 15_000,
      description: 'the deleted item to be gone',
    });
    const missing = await fetch(`${api.url}/v1/items/${gone}`);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    const results = (await similarToPhoto(gone, 10)).results;
    expect(results.map((r) => r.id)).not.toContain(gone);
    expect(results[0]!.id).toBe(twin);
    expect((await liveVersion()).count).toBe(ROWS - 1);
  });
});
