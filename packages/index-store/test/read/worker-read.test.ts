import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotCorruptError, SnapshotWriter } from '../../src';
import { segmentFile, versionDirName } from '../../src/format/layout';
import { loadSnapshot } from '../../src/read/load';
import { TEST_MODEL, item, rng, tempDataDir, unitVector } from '../helpers';

describe('loading in a worker thread', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir('index-store-worker-');
  });
  afterEach(() => data.cleanup());

  it('gives exactly what the event-loop load gives (segments with tombstones), and rejects damage the same way', async () => {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: TEST_MODEL });
    const random = rng(3);
    await writer.publish({
      upserts: Array.from({ length: 500 }, (_, i) =>
        item(`w${i}`, unitVector(random, TEST_MODEL.dimension), { n: i }),
      ),
      deletes: [],
    });
    const { version } = await writer.publish({
      upserts: [
        item('w7', unitVector(random, TEST_MODEL.dimension)),
        item('extra', unitVector(random, TEST_MODEL.dimension)),
      ],
      deletes: ['w3', 'w400'],
    });
    await writer.close();
    const options = { loadFaiss: true, eager: true };
    const onLoop = await loadSnapshot(data.dir, version, { ...options, readInWorker: false });
    const inWorker = await loadSnapshot(data.dir, version, { ...options, readInWorker: true });
    expect(inWorker.manifest.segments?.length).toBe(2);
    expect(inWorker.count).toBe(499);
    expect([...inWorker.ids()]).toEqual([...onLoop.ids()]);
    expect(Buffer.compare(Buffer.from(inWorker.vectors.buffer), Buffer.from(onLoop.vectors.buffer))).toBe(0);
    expect(inWorker.get('w7')).toEqual(onLoop.get('w7'));

    const served = path.join(data.dir, 'snapshots', versionDirName(version), segmentFile(1, 'served'));
    const bytes = readFileSync(served);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100);
    writeFileSync(served, bytes);
    const damaged = loadSnapshot(data.dir, version, { ...options, readInWorker: true });
    await expect(damaged).rejects.toBeInstanceOf(SnapshotCorruptError);
    await expect(damaged).rejects.toMatchObject({ reason: 'seg.000000000001.served.f32 checksum mismatch' });
  });
});
