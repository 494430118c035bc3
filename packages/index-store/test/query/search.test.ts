import { IndexFlatIP } from 'faiss-node';
import {
  InvalidQueryError,
  ItemNotFoundError,
  SnapshotReader,
  SnapshotWriter,
  type Snapshot,
} from '../../src';
import { dot, item, modelOf, rng, tempDataDir, unitVector } from '../helpers';

describe('snapshot search (real faiss, real files)', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir();
  });
  afterEach(() => data.cleanup());

  it.each([
    ['one shard file', undefined],
    ['three shard files', 700],
  ])(
    'matches bare faiss on unfiltered search and excludes the item itself by id (%s)',
    async (_name, shardSize) => {
      const dimension = 48;
      const random = rng(11);
      const writer = await SnapshotWriter.open({ dataDir: data.dir, model: modelOf(dimension), shardSize });
      const vectors = Array.from({ length: 2000 }, () => unitVector(random, dimension));
      await writer.publish({ upserts: vectors.map((v, i) => item(`p${i}`, v)), deletes: [] });
      // The reader's snapshot (vectors read from the shard files) and the writer's (in memory); both
      // search their own vectors in place with faiss's exact scan, never a copy in an IndexFlatIP.
      const reader = await SnapshotReader.open({ dataDir: data.dir });
      const snapshot = reader.current() as Snapshot;
      await reader.close();
      const writerSnapshot = (await writer.latest()) as Snapshot;
      const bare = new IndexFlatIP(dimension);
      bare.add(vectors.flatMap((v) => Array.from(v)));
      for (let q = 0; q < 10; q++) {
        const query = unitVector(random, dimension);
        const expected = bare.search(Array.from(query), 20);
        const hits = snapshot.search(query, { k: 20 });
        expect(hits.map((h) => h.id)).toEqual(expected.labels.map((l) => `p${l}`));
        expect(hits.map((h) => h.score)).toEqual(expected.distances);
        expect(writerSnapshot.search(query, { k: 20 })).toEqual(hits);
      }
      const byId = snapshot.searchById('p5', { k: 100 });
      expect(byId).toHaveLength(100);
      expect(byId.map((h) => h.id)).not.toContain('p5');
      const expected = bare.search(Array.from(vectors[5] as Float32Array), 101).labels.filter((l) => l !== 5);
      expect(byId.map((h) => h.id)).toEqual(expected.slice(0, 100).map((l) => `p${l}`));

      expect(() => snapshot.searchById('nope', { k: 5 })).toThrow(ItemNotFoundError);
      try {
        snapshot.searchById('nope', { k: 5 });
      } catch (err) {
        expect((err as ItemNotFoundError).code).toBe('ITEM_NOT_FOUND');
      }
      for (const k of [0, 101, 2.5, NaN])
        expect(() => snapshot.search(vectors[0] as Float32Array, { k })).toThrow(InvalidQueryError);
      expect(() => snapshot.search(new Float32Array(3), { k: 1 })).toThrow(InvalidQueryError);
      expect(() => snapshot.search(new Float32Array(dimension).fill(NaN), { k: 1 })).toThrow(
        InvalidQueryError,
      );
      expect(() => snapshot.search(vectors[0] as Float32Array, { k: 1, collapse: 1.5 })).toThrow(
        InvalidQueryError,
      );
      expect(() => snapshot.search(vectors[0] as Float32Array, { k: 1, filter: { a: [] } })).toThrow(
        InvalidQueryError,
      );
      expect(() => snapshot.search(vectors[0] as Float32Array, { k: 1, minScore: Infinity })).toThrow(
        InvalidQueryError,
      );
      await writer.close();
    },
  );

  it('clamps k to the count, honours minScore and collapses near-duplicates', async () => {
    const dimension = 16;
    const random = rng(3);
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: modelOf(dimension) });
    const base = unitVector(random, dimension);
    const nearCopy = (scale: number): Float32Array => {
      const noise = unitVector(random, dimension);
      const v = base.map((x, j) => x + scale * (noise[j] as number));
      const n = Math.sqrt(dot(v, v));
      return v.map((x) => x / n);
    };
    const upserts = [
      item('orig', base),
      item('dup1', nearCopy(0.01)),
      item('dup2', nearCopy(0.01)),
      ...Array.from({ length: 5 }, (_, i) => item(`other${i}`, unitVector(random, dimension))),
    ];
    await writer.publish({ upserts, deletes: [] });
    const snapshot = (await writer.latest()) as Snapshot;
    expect(snapshot.search(base, { k: 100 })).toHaveLength(8);
    expect(snapshot.searchById('orig', { k: 100 })).toHaveLength(7);

    const plain = snapshot.searchById('orig', { k: 3 });
    expect(
      plain
        .slice(0, 2)
        .map((h) => h.id)
        .sort(),
    ).toEqual(['dup1', 'dup2']);
    const collapsed = snapshot.searchById('orig', { k: 3, collapse: 0.98 });
    expect(collapsed).toHaveLength(3);
    expect(collapsed.filter((h) => h.id.startsWith('dup'))).toHaveLength(1);
    // Collapsed results still come best first and are pairwise below the threshold.
    const scores = collapsed.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);

    const threshold = (plain[1]?.score ?? 0) - 1e-6;
    const above = snapshot.searchById('orig', { k: 10, minScore: threshold });
    expect(above.map((h) => h.id).sort()).toEqual(['dup1', 'dup2']);
    expect(snapshot.search(base, { k: 10, minScore: 2 })).toEqual([]);
    await writer.close();
  });
  it('never returns excluded ids and still fills k, by vector or by id, filtered (scan) or not (faiss)', async () => {
    const dimension = 16;
    const random = rng(5);
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: modelOf(dimension) });
    const vectors = Array.from({ length: 400 }, () => unitVector(random, dimension));
    await writer.publish({
      upserts: vectors.map((v, i) => item(`p${i}`, v, { half: i % 5 === 0 ? 'even' : 'odd' })),
      deletes: [],
    });
    const snapshot = (await writer.latest()) as Snapshot;
    const query = vectors[0] as Float32Array;
    const plain = snapshot.search(query, { k: 10 }).map((h) => h.id);
    // Exclude the five best (p0 itself among them) and an unknown id: the next ten come back.
    const exclude = [...plain.slice(0, 5), 'not-there'];
    const excluded = snapshot.search(query, { k: 10, exclude }).map((h) => h.id);
    expect(excluded).toEqual(
      snapshot
        .search(query, { k: 15 })
        .map((h) => h.id)
        .slice(5, 15),
    );
    // By id: the item itself and the excluded ones are both left out.
    const byId = snapshot.searchById('p0', { k: 10, exclude: plain.slice(1, 3) }).map((h) => h.id);
    expect(byId).toHaveLength(10);
    expect(byId).not.toContain('p0');
    expect(byId.slice(0, 2)).toEqual(plain.slice(3, 5));
    // A small filtered subset (80 of 400) is scanned exactly rather than searched by faiss: same rule.
    const evens = snapshot.search(query, { k: 10, filter: { half: 'even' } }).map((h) => h.id);
    const evensExcluded = snapshot
      .search(query, { k: 5, filter: { half: 'even' }, exclude: evens.slice(0, 3) })
      .map((h) => h.id);
    expect(evensExcluded).toEqual(evens.slice(3, 8));
    expect(() =>
      snapshot.search(query, { k: 1, exclude: Array.from({ length: 101 }, (_, i) => `p${i}`) }),
    ).toThrow(InvalidQueryError);
    expect(() => snapshot.search(query, { k: 1, exclude: [3 as unknown as string] })).toThrow(
      InvalidQueryError,
    );
    await writer.close();
  });
});
