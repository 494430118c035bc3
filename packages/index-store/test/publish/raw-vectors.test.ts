import { SnapshotWriter } from '../../src';
import { samplePositions } from '../../src/publish/raw-vectors';
import { TEST_MODEL, item, orthonormalProjection, rng, tempDataDir, unitVector } from '../helpers';

const model = TEST_MODEL; // d = 32

function rawVectors(count: number, seed: number, prefix = 'r'): Map<string, Float32Array> {
  const random = rng(seed);
  return new Map(
    Array.from({ length: count }, (_, i) => [`${prefix}${i}`, unitVector(random, model.dimension)]),
  );
}

describe('SnapshotWriter.readRawVectors: the raw embeddings a projection is fitted on', () => {
  let data: ReturnType<typeof tempDataDir>;
  let writer: SnapshotWriter;
  beforeEach(async () => {
    data = tempDataDir('index-store-raw-');
    writer = await SnapshotWriter.open({ dataDir: data.dir, model, gcGraceMs: 0 });
  });
  afterEach(async () => {
    await writer.close();
    data.cleanup();
  });

  it('is null before the first publish', async () => {
    expect(await writer.readRawVectors()).toBeNull();
  });

  it('reads the served vectors without a projection and the raw files with one (deletes, replaces, several segments)', async () => {
    const expected = rawVectors(200, 1);
    await writer.publish({ upserts: [...expected].map(([id, v]) => item(id, v, { n: id })), deletes: [] });
    const plain = await writer.readRawVectors();
    expect(plain).toMatchObject({ version: 1, count: 200, rows: 200, sampled: false, projection: null });
    const projection = orthonormalProjection(model, 8, 7);
    await writer.publish({ upserts: [], deletes: [], projection, projectionReplaces: null });
    // Changes after the projection: new segments with raw files, tombstones in older ones.
    const more = rawVectors(30, 2, 's');
    const replaced = rawVectors(5, 3, 'x');
    const replacements = [...replaced.values()].map((v, i) => [`r${i * 7}`, v] as const);
    await writer.publish({
      upserts: [...more, ...replacements].map(([id, v]) => item(id, v, { n: id })),
      deletes: ['r1', 'r2'],
    });
    await writer.publish({ upserts: [], deletes: ['s0'] });
    for (const [id, v] of [...more, ...replacements]) expected.set(id, v);
    for (const id of ['r1', 'r2', 's0']) expected.delete(id);

    const read = await writer.readRawVectors();
    const latest = await writer.latest();
    expect(read).toMatchObject({ version: 4, count: expected.size, rows: expected.size, sampled: false });
    expect(read?.projection).toEqual(projection.descriptor);
    expect(read?.model).toEqual(model);
    // Index order, each row exactly the raw vector upserted for that id, metadata with it.
    expect(read?.items.map((i) => i.id)).toEqual([...(latest?.ids() ?? [])]);
    read?.items.forEach((stored, r) => {
      expect(stored.metadata).toEqual({ n: stored.id });
      expect(Array.from(read.vectors.subarray(r * 32, (r + 1) * 32))).toEqual(
        Array.from(expected.get(stored.id) as Float32Array),
      );
    });
  });

  it('a sample of at most maxRows: an even stride, the same rows with and without a projection', async () => {
    const expected = rawVectors(101, 4);
    await writer.publish({ upserts: [...expected].map(([id, v]) => item(id, v)), deletes: [] });
    const before = await writer.readRawVectors({ maxRows: 10 });
    await writer.publish({
      upserts: [],
      deletes: [],
      projection: orthonormalProjection(model, 4, 1),
      projectionReplaces: null,
    });
    const after = await writer.readRawVectors({ maxRows: 10 });
    expect(after).toMatchObject({ count: 101, rows: 10, sampled: true });
    expect(after?.vectors.length).toBe(10 * 32);
    expect(after?.items.map((i) => i.id)).toEqual(before?.items.map((i) => i.id));
    expect(Array.from(after?.vectors ?? [])).toEqual(Array.from(before?.vectors ?? []));
    after?.items.forEach((stored, r) =>
      expect(Array.from(after.vectors.subarray(r * 32, (r + 1) * 32))).toEqual(
        Array.from(expected.get(stored.id) as Float32Array),
      ),
    );
  });

  it('samplePositions strides evenly and never repeats', () => {
    expect(Array.from(samplePositions(10, 4))).toEqual([0, 2, 5, 7]);
    expect(Array.from(samplePositions(3, 10))).toEqual([0, 1, 2]);
    expect(Array.from(samplePositions(0, 10))).toEqual([]);
  });
});
