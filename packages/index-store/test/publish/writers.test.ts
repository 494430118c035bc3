import { readdirSync } from 'node:fs';
import path from 'node:path';
import { SnapshotReader, SnapshotWriter, type Snapshot } from '../../src';
import { item, modelOf, spawnFixture, tempDataDir, vectorFor, waitFor } from '../helpers';
import type { ChildTask } from '../fixtures/writer-child';

const DIMENSION = 16;
const model = modelOf(DIMENSION);

async function readCurrent(dataDir: string): Promise<Snapshot> {
  const reader = await SnapshotReader.open({ dataDir, expectedModel: model, pollIntervalMs: 60_000 });
  const snapshot = reader.current();
  expect(reader.rejections).toBe(0);
  await reader.close();
  return snapshot as Snapshot;
}

describe('several writers on one data directory', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir('index-store-writers-');
  });
  afterEach(() => data.cleanup());

  it('two concurrent writer processes: every acknowledged upsert is in the final snapshot', async () => {
    const task = (prefix: string): ChildTask => ({
      mode: 'loop',
      dataDir: data.dir,
      dimension: DIMENSION,
      prefix,
      batches: 10,
      batchSize: 3,
    });
    const writers = [spawnFixture('writer-child.ts', task('A')), spawnFixture('writer-child.ts', task('B'))];
    const exits = await Promise.all(writers.map((w) => w.exited));
    expect(exits).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    const acks = writers.flatMap((w) =>
      w.events.map((e) => ({ ids: e.ack as string[], version: e.version as number })),
    );
    expect(acks).toHaveLength(20);
    // Every publish got its own version (they were serialized by the lock, not lost to each other).
    expect(new Set(acks.map((a) => a.version)).size).toBe(20);
    const snapshot = await readCurrent(data.dir);
    const acknowledged = acks.flatMap((a) => a.ids);
    expect(acknowledged).toHaveLength(60);
    for (const id of acknowledged) {
      expect(snapshot.has(id)).toBe(true);
      expect(Array.from(snapshot.vectorOf(id) as Float32Array)).toEqual(
        Array.from(vectorFor(id, 0, DIMENSION)),
      );
    }
    expect(snapshot.count).toBe(60);
    expect(snapshot.version).toBe(Math.max(...acks.map((a) => a.version)));
  });

  it.each([
    ['before building', 'build-dir-created'],
    ['after its snapshot directory is in place', 'pointer-temp-synced'],
  ] as const)(
    'a writer frozen %s past its lock is fenced off and rebuilds on the newer snapshot',
    async (_when, stopAt) => {
      const seed = await SnapshotWriter.open({ dataDir: data.dir, model });
      await seed.publish({ upserts: [item('seed', vectorFor('seed', 0, DIMENSION))], deletes: [] });
      await seed.close();

      const stalled = spawnFixture('writer-child.ts', {
        mode: 'stall',
        dataDir: data.dir,
        dimension: DIMENSION,
        stopAt,
        upserts: ['from-stalled'],
        maxAttempts: 3,
        lockStaleMs: 1000,
      } satisfies ChildTask);
      await waitFor(() => stalled.events.some((e) => e.event === 'stopping'), 20_000, 'the writer to freeze');

      // A second writer waits out the frozen one's lock (no heartbeat for lockStaleMs) and publishes.
      const other = await SnapshotWriter.open({
        dataDir: data.dir,
        model,
        lockStaleMs: 1000,
        lockTimeoutMs: 15_000,
      });
      const started = Date.now();
      const published = await other.publish({
        upserts: [item('from-other', vectorFor('from-other', 0, DIMENSION))],
        deletes: [],
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(700);
      expect(published.version).toBeGreaterThan(1);

      stalled.child.kill('SIGCONT');
      expect(await stalled.exited).toEqual({ code: 0, signal: null });
      const result = stalled.events.find((e) => e.event === 'published');
      expect(result).toBeDefined();
      expect(result?.version as number).toBeGreaterThan(published.version);

      const snapshot = await readCurrent(data.dir);
      expect([...snapshot.ids()].sort()).toEqual(['from-other', 'from-stalled', 'seed']);
      expect(snapshot.version).toBe(result?.version);
      // The fenced-off attempt left no snapshot directory that was never current.
      const dirs = readdirSync(path.join(data.dir, 'snapshots')).map((name) => Number(name.slice(1)));
      expect(dirs.sort((a, b) => a - b)).toEqual([1, published.version, result?.version]);
      await other.close();
    },
  );

  it('a frozen writer with no attempts left fails with STALE_WRITER and publishes nothing', async () => {
    const seed = await SnapshotWriter.open({ dataDir: data.dir, model });
    await seed.publish({ upserts: [item('seed', vectorFor('seed', 0, DIMENSION))], deletes: [] });
    const stalled = spawnFixture('writer-child.ts', {
      mode: 'stall',
      dataDir: data.dir,
      dimension: DIMENSION,
      stopAt: 'manifest-synced',
      upserts: ['from-stalled'],
      maxAttempts: 1,
      lockStaleMs: 1000,
    } satisfies ChildTask);
    await waitFor(() => stalled.events.some((e) => e.event === 'stopping'), 20_000, 'the writer to freeze');
    const other = await SnapshotWriter.open({
      dataDir: data.dir,
      model,
      lockStaleMs: 1000,
      lockTimeoutMs: 15_000,
    });
    const published = await other.publish({
      upserts: [item('from-other', vectorFor('from-other', 0, DIMENSION))],
      deletes: [],
    });
    stalled.child.kill('SIGCONT');
    await stalled.exited;
    expect(stalled.events.at(-1)).toMatchObject({ event: 'error', code: 'STALE_WRITER' });
    const snapshot = await readCurrent(data.dir);
    expect(snapshot.version).toBe(published.version);
    expect([...snapshot.ids()].sort()).toEqual(['from-other', 'seed']);
    await other.close();
    await seed.close();
  });
});
