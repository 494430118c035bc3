/**
 * The newest snapshot is corrupt on disk while CURRENT points at it (real indexer and API processes,
 * real Redis): once with a truncated items file, once with bytes flipped inside a vector segment. The
 * API refuses it, keeps serving the previous version, says which version it refused and why on
 * /v1/index and in /metrics, and recovers when the next good version is published.
 *
 * The API is paused (SIGSTOP) while the indexer publishes and the test damages the new version, so it
 * first sees the version corrupt — as a replica whose volume delivered a damaged copy would.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CatalogueQueue } from '@lookalike/queue';
import {
  apiEnv,
  deleteQueueKeys,
  indexerEnv,
  killAllProcesses,
  sharedRedisUrl,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  waitForJob,
  type RunningApi,
  type ServiceProcess,
} from './support';
import { ContractClient, type ProblemBody } from './support/api-client';
import { currentVersion, fileSize, waitForIndex, writeGeneratedCatalogue } from './support/faults';

jest.setTimeout(150_000);

/** README, Failure behaviour: the rollback of CURRENT to version $V (temp file + rename: atomic). */
const ROLLBACK_SCRIPT =
  'M="$DATA_DIR/snapshots/$(printf v%012d "$V")/manifest.json" && ' +
  'printf \'{"version":%d,"manifestSha256":"%s"}\\n\' "$V" "$(sha256sum "$M" | cut -d" " -f1)" ' +
  '> "$DATA_DIR/CURRENT.rollback" && mv "$DATA_DIR/CURRENT.rollback" "$DATA_DIR/CURRENT"';
const INDEXER_EXTRA = { PUBLISH_DEBOUNCE_MS: '100', RANKING: 'false' };
const versionDir = (dataDir: string, version: number) =>
  path.join(dataDir, 'snapshots', `v${String(version).padStart(12, '0')}`);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface IndexBody {
  version: number;
  count: number;
  refused: { version: number; reason: string; at: string } | null;
}

/** The segment files a version writes itself are named by it (format 2, index-store format/layout.ts). */
const segmentFile = (version: number, kind: 'items.ndjson' | 'served.f32') =>
  `seg.${String(version).padStart(12, '0')}.${kind}`;

/**
 * Damage done to one file of the newest version, and the reason the reader must give for it. Only
 * the segment the version wrote itself is damaged: the segments it kept are hard links to its base's
 * files, so damaging one of those would damage the previous version too (the same bytes on disk).
 */
const DAMAGES = [
  {
    name: 'truncated items file',
    file: (version: number) => segmentFile(version, 'items.ndjson'),
    damage: (file: string) => truncateSync(file, Math.floor(fileSize(file) / 2)),
    reason: /items\.ndjson/,
  },
  {
    name: 'flipped bytes in a vector segment',
    file: (version: number) => segmentFile(version, 'served.f32'),
    damage: (file: string) => {
      // Same size, different content: only the checksum can tell.
      const fd = openSync(file, 'r+');
      try {
        const at = Math.floor(fileSize(file) / 2);
        const bytes = Buffer.alloc(16);
        readSync(fd, bytes, 0, bytes.length, at);
        for (let i = 0; i < bytes.length; i += 1) bytes[i] = (bytes[i] as number) ^ 0xff;
        writeSync(fd, bytes, 0, bytes.length, at);
      } finally {
        closeSync(fd);
      }
    },
    reason: /served\.f32/,
  },
] as const;

describe('a corrupt newest snapshot: the API keeps the previous version and says so', () => {
  const prefix = uniquePrefix('faults-corrupt');
  const work = tempDir('faults-corrupt');
  const dataDir = path.join(work.dir, 'data');
  const catalogueRoot = path.join(work.dir, 'catalogue');
  let indexer: ServiceProcess;
  let api: RunningApi;
  let client: ContractClient;
  let queue: CatalogueQueue;
  let nextSeed = 1;

  /** Upserts `n` new generated items straight into the queue (the API may be paused) and waits. */
  async function publishItems(n: number): Promise<string[]> {
    const ids = await writeGeneratedCatalogue(catalogueRoot, 'item', n, nextSeed);
    nextSeed += n;
    const jobId = await queue.enqueue({
      kind: 'upsert',
      items: ids.map((id) => ({ id, imagePath: `${id}.jpg`, metadata: {} })),
    });
    const job = await waitForJob(queue, jobId, 60_000);
    if (job.state !== 'completed') throw new Error(`job ${jobId} ${job.state}: ${job.failedReason}`);
    return ids;
  }

  async function metric(name: string): Promise<number> {
    const text = (await client.call('/metrics')).body;
    const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
    if (value === undefined) throw new Error(`/metrics has no ${name}`);
    return Number(value);
  }

  const serviceOptions = () => ({ redisUrl: sharedRedisUrl, prefix, dataDir, catalogueRoot });

  beforeAll(async () => {
    const options = serviceOptions();
    queue = new CatalogueQueue({ redisUrl: sharedRedisUrl, prefix });
    [indexer, api] = await Promise.all([
      startIndexer('indexer', indexerEnv({ ...options, extra: INDEXER_EXTRA })),
      startApi('api', apiEnv({ ...options, extra: { RATE_LIMIT_MAX: '0' } })),
    ]);
    client = new ContractClient(api.url);
  });

  afterAll(async () => {
    if (api?.process.running) process.kill(api.process.pid, 'SIGCONT');
    await api?.process.stop();
    await indexer?.stop();
    await queue?.close();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    work.remove();
  });

  it('serves the first catalogue', async () => {
    await publishItems(20);
    const index = await waitForIndex<IndexBody>(client, (i) => i.count === 20, 20_000, 'the first version');
    expect(index.refused).toBeNull();
  });

  it.each(DAMAGES)(
    '$name: refused, previous version served and reported, recovers on the next publish',
    async (damage) => {
      const started = Date.now();
      const before = (await client.call('/v1/index')).json<IndexBody>();
      const rejectionsBefore = await metric('lookalike_index_reload_rejections_total');
      const servedItem = (await client.call(`/v1/items?limit=1`)).json<{ items: Array<{ id: string }> }>()
        .items[0]!.id;

      // Paused, the API cannot load the new version before it is damaged.
      process.kill(api.process.pid, 'SIGSTOP');
      let newIds: string[];
      let badVersion: number;
      try {
        newIds = await publishItems(5);
        badVersion = currentVersion(dataDir);
        expect(badVersion).toBeGreaterThan(before.version);
        damage.damage(path.join(versionDir(dataDir, badVersion), damage.file(badVersion)));
      } finally {
        process.kill(api.process.pid, 'SIGCONT');
      }

      // Refused: the previous version keeps serving, and /v1/index says which version and why.
      const refusedIndex = await waitForIndex<IndexBody>(
        client,
        (i) => i.refused?.version === badVersion,
        20_000,
        `/v1/index to report v${badVersion} refused`,
      );
      expect(refusedIndex).toMatchObject({ version: before.version, count: before.count });
      expect(refusedIndex.refused?.reason).toMatch(damage.reason);
      const old = await client.call(`/v1/items/${servedItem}`);
      expect(old.status).toBe(200);
      expect(old.json<{ indexVersion: number }>().indexVersion).toBe(before.version);
      const similar = await client.call(`/v1/items/${servedItem}/similar?k=3`);
      expect(similar.status).toBe(200);
      expect(similar.json<{ indexVersion: number }>().indexVersion).toBe(before.version);
      expect((await client.call(`/v1/items/${newIds[0]}`)).json<ProblemBody>().code).toBe('ITEM_NOT_FOUND');
      expect(await metric('lookalike_index_reload_rejections_total')).toBeGreaterThan(rejectionsBefore);
      expect(await metric('lookalike_index_refused_version')).toBe(badVersion);
      expect(await metric('lookalike_index_version')).toBe(before.version);
      expect(api.process.logs.some((l) => l.msg === 'snapshot rejected' && l.version === badVersion)).toBe(
        true,
      );

      // The indexer publishes the next version from its own (good) copy: the API swaps it in.
      const moreIds = await publishItems(5);
      const recovered = await waitForIndex<IndexBody>(
        client,
        (i) => i.version > badVersion,
        20_000,
        'a good version after the refused one',
      );
      expect(recovered.refused).toBeNull();
      expect(recovered.count).toBe(before.count + 10);
      for (const id of [newIds[0]!, moreIds[0]!])
        expect((await client.call(`/v1/items/${id}`)).status).toBe(200);
      expect(await metric('lookalike_index_refused_version')).toBe(0);
      process.stdout.write(
        `corrupt snapshot (${damage.name}): v${badVersion} refused (${refusedIndex.refused?.reason}), ` +
          `v${before.version} served, v${recovered.version} swapped in; ${Date.now() - started} ms\n`,
      );
    },
  );
  it('an API started while CURRENT names a corrupt version serves the newest good one and reports it', async () => {
    const started = Date.now();
    const before = (await client.call('/v1/index')).json<IndexBody>();
    await api.process.stop();
    const newIds = await publishItems(5);
    const badVersion = currentVersion(dataDir);
    DAMAGES[1].damage(path.join(versionDir(dataDir, badVersion), DAMAGES[1].file(badVersion)));
    api = await startApi('api-restarted', apiEnv({ ...serviceOptions(), extra: { RATE_LIMIT_MAX: '0' } }));
    client = new ContractClient(api.url);
    const index = (await client.call('/v1/index')).json<IndexBody & ProblemBody>();
    expect(index).toMatchObject({ version: before.version, count: before.count });
    expect(index.refused).toMatchObject({ version: badVersion, reason: expect.stringMatching(/checksum/) });
    expect((await client.call('/readyz')).status).toBe(200);
    expect(await metric('lookalike_index_refused_version')).toBe(badVersion);
    expect((await client.call(`/v1/items/${newIds[0]}`)).json<ProblemBody>().code).toBe('ITEM_NOT_FOUND');

    await publishItems(5);
    const recovered = await waitForIndex<IndexBody>(
      client,
      (i) => i.version > badVersion,
      20_000,
      'a good version after the refused one',
    );
    expect(recovered).toMatchObject({ count: before.count + 10, refused: null });
    process.stdout.write(
      `corrupt snapshot at API start: v${badVersion} refused, v${before.version} served from the start, ` +
        `v${recovered.version} swapped in; ${Date.now() - started} ms\n`,
    );
  });
  it('an indexer started while CURRENT names a corrupt version stays up, fails jobs with SNAPSHOT_CORRUPT, publishes after a rollback', async () => {
    const started = Date.now();
    const before = (await client.call('/v1/index')).json<IndexBody>();
    const goodVersion = currentVersion(dataDir);
    const goodManifest = readFileSync(path.join(versionDir(dataDir, goodVersion), 'manifest.json'));
    const lostIds = await publishItems(5);
    const badVersion = currentVersion(dataDir);
    await indexer.stop();
    DAMAGES[1].damage(path.join(versionDir(dataDir, badVersion), DAMAGES[1].file(badVersion)));

    indexer = await startIndexer(
      'indexer-restarted',
      indexerEnv({ ...serviceOptions(), extra: INDEXER_EXTRA }),
    );
    const complaint = await indexer.waitForLog(
      (l) => l.code === 'SNAPSHOT_CORRUPT' && l.version === badVersion,
      10_000,
      'a log line naming the corrupt version',
    );
    const ids = await writeGeneratedCatalogue(catalogueRoot, 'item', 3, nextSeed);
    nextSeed += 3;
    const jobId = await queue.enqueue({
      kind: 'upsert',
      items: ids.map((id) => ({ id, imagePath: `${id}.jpg`, metadata: {} })),
    });
    const failed = await waitForJob(queue, jobId, 60_000);
    expect(failed.state).toBe('failed');
    expect(failed.failedReason).toMatch(/^SNAPSHOT_CORRUPT: /);
    expect(indexer.running).toBe(true);

    // The operator's way out, exactly as the README's "Failure behaviour" gives it: point CURRENT back
    // at the last good version.
    execFileSync('sh', ['-c', ROLLBACK_SCRIPT], {
      env: { ...process.env, DATA_DIR: dataDir, V: String(goodVersion) },
    });
    expect(readFileSync(path.join(dataDir, 'CURRENT'), 'utf8')).toBe(
      `${JSON.stringify({ version: goodVersion, manifestSha256: sha256(goodManifest) })}\n`,
    );
    const retried = await queue.enqueue({
      kind: 'upsert',
      items: ids.map((id) => ({ id, imagePath: `${id}.jpg`, metadata: {} })),
    });
    const done = await waitForJob(queue, retried, 60_000);
    if (done.state !== 'completed') throw new Error(`job ${retried} ${done.state}: ${done.failedReason}`);
    const recovered = await waitForIndex<IndexBody>(
      client,
      (i) => i.version > badVersion,
      20_000,
      'the version published after the rollback',
    );
    // The corrupt version's items are lost with it (their jobs had completed): re-import them.
    expect(recovered).toMatchObject({ count: before.count + 3, refused: null });
    expect((await client.call(`/v1/items/${lostIds[0]}`)).status).toBe(404);
    process.stdout.write(
      `corrupt snapshot at indexer start: ${String(complaint.msg)}; job failed "${failed.failedReason}"; ` +
        `after rollback to v${goodVersion}: v${recovered.version} published; ${Date.now() - started} ms\n`,
    );
  });
});
