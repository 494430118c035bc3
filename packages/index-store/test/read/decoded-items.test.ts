import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotCorruptError, SnapshotWriter } from '../../src';
import { segmentFile, versionDirName } from '../../src/format/layout';
import { loadSnapshot } from '../../src/read/load';
import { TEST_MODEL, item, rng, tempDataDir, unitVector } from '../helpers';

describe('a successor version reuses the item records of the segments it shares with the one served', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir('index-store-reuse-');
  });
  afterEach(() => data.cleanup());

  async function publishTwo(): Promise<{ first: number; second: number }> {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: TEST_MODEL });
    const random = rng(11);
    const { version: first } = await writer.publish({
      upserts: Array.from({ length: 300 }, (_, i) =>
        item(`r${i}`, unitVector(random, TEST_MODEL.dimension), { n: i, colour: i % 2 ? 'Red' : 'Blue' }),
      ),
      deletes: [],
    });
    // Replaces r5 (a tombstone in the kept segment), adds one, deletes one.
    const { version: second } = await writer.publish({
      upserts: [
        item('r5', unitVector(random, TEST_MODEL.dimension), { n: 5, colour: 'Green' }),
        item('new', unitVector(random, TEST_MODEL.dimension), { colour: 'Green' }),
      ],
      deletes: ['r200'],
    });
    await writer.close();
    return { first: first as number, second: second as number };
  }

  it.each([true, false])(
    'gives exactly what a fresh load gives, sharing the kept records (readInWorker %s)',
    async (readInWorker) => {
      const { first, second } = await publishTwo();
      const options = { loadFaiss: true, eager: true, readInWorker };
      const previous = await loadSnapshot(data.dir, first, options);
      const fresh = await loadSnapshot(data.dir, second, options);
      const reused = await loadSnapshot(data.dir, second, { ...options, previous });

      expect(reused.count).toBe(300);
      expect([...reused.ids()]).toEqual([...fresh.ids()]);
      expect(reused.items).toEqual(fresh.items);
      expect(Buffer.compare(Buffer.from(reused.vectors.buffer), Buffer.from(fresh.vectors.buffer))).toBe(0);
      // Kept rows are the served snapshot's own objects; the new segment's were decoded.
      expect(reused.get('r0')).toBe(previous.get('r0'));
      expect(reused.get('r299')).toBe(previous.get('r299'));
      expect(reused.get('r5')).not.toBe(previous.get('r5'));
      expect(reused.get('r5')?.metadata).toEqual({ n: 5, colour: 'Green' });
      expect(reused.get('r200')).toBeUndefined();
      // Filters and facets are built over the new records.
      expect(
        reused
          .page({ colour: ['Green'] }, 0, 10)
          .items.map((i) => i.id)
          .sort(),
      ).toEqual(['new', 'r5']);
    },
  );

  it('still verifies the kept files: a damaged shared items file is refused even with a served snapshot to reuse', async () => {
    const { first, second } = await publishTwo();
    const options = { loadFaiss: true, eager: true, readInWorker: true };
    const previous = await loadSnapshot(data.dir, first, options);
    // Hard links share the bytes: damage the copy the new version lists (segment 1, its kept segment).
    const itemsFile = path.join(data.dir, 'snapshots', versionDirName(second), segmentFile(first, 'items'));
    const bytes = readFileSync(itemsFile);
    bytes.writeUInt8(bytes.readUInt8(40) ^ 1, 40);
    writeFileSync(itemsFile, bytes);
    await expect(loadSnapshot(data.dir, second, { ...options, previous })).rejects.toBeInstanceOf(
      SnapshotCorruptError,
    );
  });
});
