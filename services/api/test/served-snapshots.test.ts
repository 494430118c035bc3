import { mkdtemp, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SnapshotReader, SnapshotWriter } from '@lookalike/index-store';
import { ServedSnapshots } from '../src/served-snapshots';
import { FAKE_MODEL } from './helpers';

const vector = (seed: number) => {
  const v = new Float32Array(FAKE_MODEL.dimension).fill(0.1);
  v[seed % FAKE_MODEL.dimension] = 1;
  return v;
};
const upsert = (id: string, seed: number) => ({
  upserts: [{ id, vector: vector(seed), metadata: {}, contentHash: String(seed % 10).repeat(64) }],
  deletes: [],
});
/** The items file of the segment `version` wrote itself (older segments are hard links shared with older versions). */
const itemsFile = (dataDir: string, version: number) => {
  const v = String(version).padStart(12, '0');
  return path.join(dataDir, 'snapshots', `v${v}`, `seg.${v}.items.ndjson`);
};

describe('ServedSnapshots: what the reader refused, and the fall-back at start', () => {
  let dataDir: string;
  let writer: SnapshotWriter;
  const readers: SnapshotReader[] = [];
  /** Runs once the next version is in snapshots/ but before CURRENT names it (no reader has seen it). */
  let beforePointer: (() => Promise<void>) | null = null;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-served-snapshots-'));
    beforePointer = null;
    writer = await SnapshotWriter.open({
      dataDir,
      model: FAKE_MODEL,
      gcGraceMs: 60_000,
      onStep: async (step) => {
        if (step !== 'pointer-temp-synced' || !beforePointer) return;
        const damage = beforePointer;
        beforePointer = null;
        await damage();
      },
    });
  });

  afterEach(async () => {
    await Promise.all(readers.splice(0).map((reader) => reader.close()));
    await writer.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function open(): Promise<{ reader: SnapshotReader; served: ServedSnapshots }> {
    const reader = await SnapshotReader.open({ dataDir, expectedModel: FAKE_MODEL, pollIntervalMs: 60_000 });
    readers.push(reader);
    return { reader, served: new ServedSnapshots(reader, dataDir) };
  }

  it('reports a refused newer version until one at least as new is swapped in', async () => {
    await writer.publish(upsert('a', 1));
    const { reader, served } = await open();
    expect(served.refusal).toBeNull();
    beforePointer = () => truncate(itemsFile(dataDir, 2), 10);
    await writer.publish(upsert('b', 2));
    await reader.check();
    expect(served.current()?.version).toBe(1);
    expect(served.refusal).toMatchObject({ version: 2, reason: expect.stringMatching(/items\.ndjson/) });
    // The writer builds on its own (good) copy of version 2.
    await writer.publish(upsert('c', 3));
    await reader.check();
    expect(served.current()?.version).toBe(3);
    expect(served.refusal).toBeNull();
  });

  it('at start, CURRENT refused: serves the newest older version that verifies, the refusal kept', async () => {
    await writer.publish(upsert('a', 1));
    await writer.publish(upsert('b', 2));
    await writer.publish(upsert('c', 3));
    await truncate(itemsFile(dataDir, 3), 10);
    await truncate(itemsFile(dataDir, 2), 10);
    const { served } = await open();
    expect(served.current()).toBeNull();
    expect(served.refusal).toMatchObject({ version: 3 });
    await expect(served.fallBackFromRefusedPointer()).resolves.toBe(1);
    expect(served.current()?.version).toBe(1);
    expect(served.refusal).toMatchObject({ version: 3 });
  });

  it('at start, nothing that verifies: serves nothing, says why', async () => {
    await writer.publish(upsert('a', 1));
    await truncate(itemsFile(dataDir, 1), 10);
    const { served } = await open();
    await expect(served.fallBackFromRefusedPointer()).resolves.toBeNull();
    expect(served.current()).toBeNull();
    expect(served.refusal).toMatchObject({ version: 1 });
  });
});
