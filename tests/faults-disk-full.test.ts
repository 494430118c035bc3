/**
 * DATA_DIR runs out of space in the middle of a publish (real indexer and API processes on a 24 MiB
 * tmpfs, real Redis): the publish fails with a clear log line and the job with a stable reason
 * (DATA_DIR_FULL), the API keeps answering from the last good version, nothing half-written becomes
 * current or stays behind, and once space is back the same import publishes.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  apiEnv,
  deleteQueueKeys,
  indexerEnv,
  killAllProcesses,
  pollUntil,
  sharedRedisUrl,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';
import { ContractClient, type ProblemBody } from './support/api-client';
import {
  currentVersion,
  enqueueImagePaths,
  freeBytes,
  listFiles,
  mountTmpfs,
  snapshotDirs,
  tmpfsUnavailableReason,
  unmountTmpfs,
  waitForIndex,
  waitForJobState,
  writeGeneratedCatalogue,
} from './support/faults';

jest.setTimeout(180_000);

const TMPFS_MIB = 24;
const FIRST = 30;
const SECOND = 150;
/** Left free beside the filler: far less than the second version needs (150 × 2304 floats ≈ 1.4 MB). */
const LEFT_FREE_BYTES = 96 * 1024;

const unavailable = tmpfsUnavailableReason();
const describeIfRoot = unavailable === null ? describe : describe.skip;
if (unavailable !== null)
  process.stdout.write(`faults-disk-full: skipped, cannot mount a tmpfs (${unavailable})\n`);

const title =
  unavailable === null
    ? `disk full on DATA_DIR during a publish (${TMPFS_MIB} MiB tmpfs)`
    : `disk full on DATA_DIR during a publish — SKIPPED: ${unavailable}`;

describeIfRoot(title, () => {
  const prefix = uniquePrefix('faults-disk');
  const work = tempDir('faults-disk');
  const dataDir = path.join(work.dir, 'data');
  const catalogueRoot = path.join(work.dir, 'catalogue');
  let indexer: ServiceProcess;
  let api: RunningApi;
  let client: ContractClient;

  beforeAll(async () => {
    mountTmpfs(dataDir, TMPFS_MIB);
  });

  afterAll(async () => {
    await api?.process.stop();
    await indexer?.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    unmountTmpfs(dataDir);
    work.remove();
  });

  it('fails the publish with DATA_DIR_FULL, keeps serving the last good version, publishes once space is back', async () => {
    const started = Date.now();
    const firstIds = await writeGeneratedCatalogue(catalogueRoot, 'first', FIRST, 1);
    const secondIds = await writeGeneratedCatalogue(catalogueRoot, 'second', SECOND, 1000);
    const options = { redisUrl: sharedRedisUrl, prefix, dataDir, catalogueRoot };
    [indexer, api] = await Promise.all([
      startIndexer(
        'indexer',
        indexerEnv({ ...options, extra: { PUBLISH_DEBOUNCE_MS: '100', RANKING: 'false' } }),
      ),
      startApi('api', apiEnv({ ...options, extra: { RATE_LIMIT_MAX: '0' } })),
    ]);
    client = new ContractClient(api.url);

    // 1. A first catalogue fits.
    const first = await waitForJobState(client, await enqueueImagePaths(client, firstIds), 60_000);
    expect(first).toMatchObject({ state: 'completed' });
    const served = await waitForIndex(client, (i) => i.count === FIRST, 20_000, 'the first version');
    const goodVersion = served.version;
    expect(currentVersion(dataDir)).toBe(goodVersion);
    const versionsBefore = snapshotDirs(dataDir);

    // 2. Fill the volume to LEFT_FREE_BYTES, then import more than that.
    const filler = path.join(dataDir, 'filler.bin');
    writeFileSync(filler, Buffer.alloc(freeBytes(dataDir) - LEFT_FREE_BYTES));
    expect(freeBytes(dataDir)).toBeLessThanOrEqual(LEFT_FREE_BYTES);
    const jobId = await enqueueImagePaths(client, secondIds);

    // While the job's attempts fail, by-id queries keep answering 200 from the last good version.
    let byIdChecks = 0;
    const failed = await pollUntil(
      async () => {
        const item = await client.call(`/v1/items/${firstIds[0]}`);
        expect(item.status).toBe(200);
        expect(item.json<{ indexVersion: number }>().indexVersion).toBe(goodVersion);
        const similar = await client.call(`/v1/items/${firstIds[1]}/similar?k=3`);
        expect(similar.status).toBe(200);
        expect(similar.json<{ indexVersion: number }>().indexVersion).toBe(goodVersion);
        byIdChecks += 1;
        const job = (await client.call(`/v1/jobs/${jobId}`)).json<{ state: string }>();
        return job.state === 'failed' || job.state === 'completed' ? job : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, description: 'the import job to run out of attempts' },
    );
    const job = (await client.call(`/v1/jobs/${jobId}`)).json<{
      state: string;
      failedReason: string | null;
      attemptsMade: number;
    }>();
    process.stdout.write(
      `disk full: job ${failed.state} after ${job.attemptsMade} attempts, reason: ${job.failedReason}; ` +
        `${byIdChecks} rounds of by-id checks answered 200 from v${goodVersion}\n`,
    );
    expect(job.state).toBe('failed');
    expect(job.failedReason).toMatch(/^DATA_DIR_FULL: /);
    // One clear log line per failed publish, with the stable code.
    const publishFailures = indexer.logs.filter((l) => l.code === 'DATA_DIR_FULL' && l.level === 50);
    expect(publishFailures.length).toBeGreaterThanOrEqual(1);
    expect(publishFailures[0]?.msg).toMatch(/no space left on DATA_DIR/);

    // Nothing half-written became current or stayed behind.
    expect(currentVersion(dataDir)).toBe(goodVersion);
    expect(snapshotDirs(dataDir)).toEqual(versionsBefore);
    const leftovers = listFiles(dataDir).filter(
      (f) => f.startsWith('tmp/') || f.endsWith('.tmp') || /(^|\/)\.[^/]*tmp/.test(f) || /pointer/.test(f),
    );
    expect(leftovers).toEqual([]);
    const index = (await client.call('/v1/index')).json<{ version: number; count: number }>();
    expect(index).toMatchObject({ version: goodVersion, count: FIRST });
    const missing = (await client.call(`/v1/items/${secondIds[0]}`)).json<ProblemBody>();
    expect(missing.code).toBe('ITEM_NOT_FOUND');

    // 3. Space returns: the same import now publishes.
    rmSync(filler);
    const retry = await waitForJobState(client, await enqueueImagePaths(client, secondIds), 90_000);
    expect(retry).toMatchObject({ state: 'completed' });
    const after = await waitForIndex(
      client,
      (i) => i.count === FIRST + SECOND,
      20_000,
      'the version with both imports',
    );
    expect(after.version).toBeGreaterThan(goodVersion);
    expect((await client.call(`/v1/items/${secondIds[0]}`)).status).toBe(200);
    expect(listFiles(dataDir).filter((f) => f.startsWith('tmp/'))).toEqual([]);
    process.stdout.write(`disk full: whole scenario ${Math.round((Date.now() - started) / 1000)} s\n`);
  });
});
