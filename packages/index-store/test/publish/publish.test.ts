import { InvalidChangeError, ModelMismatchError, SnapshotWriter, type Snapshot } from '../../src';
import { TEST_MODEL, item, modelOf, rng, tempDataDir, unitVector } from '../helpers';

describe('publishing changes (real files)', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir();
  });
  afterEach(() => data.cleanup());

  it('upserts replace (moving to the end), deletes of unknown ids are reported, metadata fields are listed', async () => {
    const dimension = 8;
    const random = rng(5);
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: modelOf(dimension) });
    const first = await writer.publish({
      upserts: [
        item('a', unitVector(random, dimension), { colour: 'red', year: 2012 }),
        item('b', unitVector(random, dimension), { colour: 'blue', year: 2013 }),
        item('c', unitVector(random, dimension), { colour: 'red' }),
      ],
      deletes: ['ghost'],
    });
    expect(first).toEqual({
      published: true,
      version: 1,
      count: 3,
      upserted: ['a', 'b', 'c'],
      deleted: [],
      unknownDeletes: ['ghost'],
      bytesWritten: expect.any(Number),
    });
    const newB = unitVector(random, dimension);
    const second = await writer.publish({
      upserts: [{ id: 'b', vector: newB, metadata: { colour: 'green' }, contentHash: 'h2' }],
      deletes: ['a', 'zzz'],
    });
    expect(second).toEqual({
      published: true,
      version: 2,
      count: 2,
      upserted: ['b'],
      deleted: ['a'],
      unknownDeletes: ['zzz'],
      bytesWritten: expect.any(Number),
    });
    const snapshot = (await writer.latest()) as Snapshot;
    expect([...snapshot.ids()]).toEqual(['c', 'b']);
    expect(snapshot.get('b')).toMatchObject({ id: 'b', metadata: { colour: 'green' }, contentHash: 'h2' });
    expect(Array.from(snapshot.vectorOf('b') as Float32Array)).toEqual(Array.from(newB));
    expect(snapshot.get('a')).toBeUndefined();
    expect(snapshot.metadataFields()).toEqual({ colour: ['green', 'red'] });
    expect(snapshot.search(newB, { k: 1, filter: { colour: 'green' } })[0]?.id).toBe('b');

    // Nothing to change: no new version.
    const noop = await writer.publish({ upserts: [], deletes: ['a'] });
    expect(noop).toEqual({
      published: false,
      version: 2,
      count: 2,
      upserted: [],
      deleted: [],
      unknownDeletes: ['a'],
      bytesWritten: 0,
    });
    await writer.close();
  });

  it('rejects invalid changes with typed errors and guards the model', async () => {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: TEST_MODEL });
    const random = rng(9);
    const good = unitVector(random, TEST_MODEL.dimension);
    const bad = [
      { upserts: [item('x', new Float32Array(3))], deletes: [] },
      { upserts: [item('bad id with spaces', good)], deletes: [] },
      { upserts: [item('x', new Float32Array(TEST_MODEL.dimension).fill(Infinity))], deletes: [] },
      { upserts: [item('x', good, { nested: {} as unknown as string })], deletes: [] },
      { upserts: [item('x', good)], deletes: ['x'] },
    ];
    for (const change of bad) await expect(writer.publish(change)).rejects.toBeInstanceOf(InvalidChangeError);
    expect(await writer.latest()).toBeNull();
    await writer.publish({
      upserts: [item('x', good)],
      deletes: [],
      attachments: { 'ranking.json': Buffer.from('{"w":1}') },
    });

    const otherModel = { ...TEST_MODEL, id: 'other-model', sha256: 'b'.repeat(64) };
    const other = await SnapshotWriter.open({ dataDir: data.dir, model: otherModel });
    await expect(other.publish({ upserts: [item('y', good)], deletes: [] })).rejects.toBeInstanceOf(
      ModelMismatchError,
    );
    const replaced = await other.publish({
      upserts: [item('y', good)],
      deletes: ['x', 'never-there'],
      replaceAll: true,
    });
    expect(replaced).toEqual({
      published: true,
      version: 2,
      count: 1,
      upserted: ['y'],
      deleted: ['x'],
      unknownDeletes: ['never-there'],
      bytesWritten: expect.any(Number),
    });
    const latest = (await other.latest()) as Snapshot;
    expect(latest.model).toEqual(otherModel);
    expect(Buffer.from(latest.attachment('ranking.json') ?? []).toString()).toBe('{"w":1}');
    await writer.close();
    await other.close();
  });

  it('serializes concurrent publishes of one writer; none is lost', async () => {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: TEST_MODEL, gcGraceMs: 0 });
    const random = rng(13);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        writer.publish({ upserts: [item(`c${i}`, unitVector(random, TEST_MODEL.dimension))], deletes: [] }),
      ),
    );
    expect(results.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const snapshot = (await writer.latest()) as Snapshot;
    expect([...snapshot.ids()].sort()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    await writer.close();
  });
});
