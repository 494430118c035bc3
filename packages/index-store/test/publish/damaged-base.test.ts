import { closeSync, openSync, readSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { SnapshotCorruptError, SnapshotWriter } from '../../src';
import { segmentFile, snapshotDir } from '../../src/format/layout';
import { loadSnapshot } from '../../src/read/load';
import { TEST_MODEL, item, maxDiff, orthonormalProjection, rng, tempDataDir, unitVector } from '../helpers';

const model = TEST_MODEL;

/** Flips 16 bytes in the middle of a file: same size, other content (only a checksum can tell). */
function flipBytes(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    const bytes = Buffer.alloc(16);
    readSync(fd, bytes, 0, 16, 64);
    for (let i = 0; i < 16; i++) bytes[i] = (bytes[i] as number) ^ 0xff;
    writeSync(fd, bytes, 0, 16, 64);
  } finally {
    closeSync(fd);
  }
}

const load = (dir: string, version: number) => loadSnapshot(dir, version, { loadFaiss: false, eager: true });

// Segments kept by a new version are hard links: the same bytes on disk as the base's. A base file
// damaged after it was published (a bad disk, an operator's mistake) must not be linked into the next
// version, or no later version would ever verify again.
describe('publishing on a base whose files were damaged on disk', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir('index-store-damaged-');
  });
  afterEach(() => data.cleanup());

  async function twoVersions(projected: boolean) {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model, gcGraceMs: 0 });
    const random = rng(3);
    const vectors = new Map<string, Float32Array>();
    const batch = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const v = unitVector(random, model.dimension);
        vectors.set(`${prefix}${i}`, v);
        return item(`${prefix}${i}`, v, { n: i });
      });
    const projection = projected ? orthonormalProjection(model, 8, 5) : undefined;
    await writer.publish({
      upserts: batch('a', 200),
      deletes: [],
      ...(projection ? { projection, projectionReplaces: null } : {}),
    });
    const second = await writer.publish({ upserts: batch('b', 3), deletes: [] });
    return { writer, vectors, batch, second, projection };
  }

  it.each([
    ['flipped bytes in a served vector file', 'served', flipBytes],
    ['a truncated items file', 'items', (file: string) => truncateSync(file, 100)],
  ] as const)(
    '%s of a kept segment: the next version rewrites it from memory and verifies',
    async (_, kind, damage) => {
      const { writer, vectors, batch, second } = await twoVersions(false);
      // Version 2 kept version 1's segment (a link) and added its own.
      damage(path.join(snapshotDir(data.dir, second.version), segmentFile(1, kind)));
      await expect(load(data.dir, second.version)).rejects.toThrow(SnapshotCorruptError);
      const third = await writer.publish({ upserts: batch('c', 1), deletes: [] });
      expect(third.published).toBe(true);
      const loaded = await load(data.dir, third.version);
      expect(loaded.count).toBe(204);
      for (const [id, v] of vectors)
        expect(maxDiff(loaded.vectorOf(id) as Float32Array, v)).toBeLessThan(1e-6);
      expect(loaded.get('a7')?.metadata).toEqual({ n: 7 });
      await writer.close();
    },
  );

  it('an untouched base is still linked: the next one-item publish writes about one item', async () => {
    const { writer, batch } = await twoVersions(false);
    const third = await writer.publish({ upserts: batch('c', 1), deletes: [] });
    expect(third.bytesWritten).toBeLessThan(4096);
    await writer.close();
  });

  it('a damaged raw file cannot be rebuilt from memory: the publish fails as SNAPSHOT_CORRUPT, nothing is published', async () => {
    const { writer, batch, second } = await twoVersions(true);
    flipBytes(path.join(snapshotDir(data.dir, second.version), segmentFile(1, 'raw')));
    await expect(writer.publish({ upserts: batch('c', 1), deletes: [] })).rejects.toThrow(
      SnapshotCorruptError,
    );
    expect((await writer.latest())?.version).toBe(second.version);
    await writer.close();
  });
});
