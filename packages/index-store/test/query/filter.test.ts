import { SnapshotWriter, type Snapshot } from '../../src';
import { bruteForce, item, modelOf, rng, tempDataDir, unitVector } from '../helpers';

describe('filtered search (real faiss, real files)', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir();
  });
  afterEach(() => data.cleanup());

  it('filter held by 20 of 10,000 items, k=10 → exactly the 10 best of those 20', async () => {
    const dimension = 64;
    const random = rng(7);
    // Four FAISS shards, so over-fetch also merges across shards.
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(dimension),
      shardSize: 3000,
    });
    const vectors = new Map<string, Float32Array>();
    const rare = new Set<string>();
    const upserts = [];
    for (let i = 0; i < 10_000; i++) {
      const id = `item-${i}`;
      const vector = unitVector(random, dimension);
      vectors.set(id, vector);
      const isRare = i % 500 === 123; // 20 items
      if (isRare) rare.add(id);
      upserts.push(item(id, vector, { colour: isRare ? 'ultramarine' : `c${i % 7}`, band: i % 3 }));
    }
    expect(rare.size).toBe(20);
    await writer.publish({ upserts, deletes: [] });
    const snapshot = (await writer.latest()) as Snapshot;
    expect(snapshot.count).toBe(10_000);

    for (let q = 0; q < 5; q++) {
      const query = unitVector(random, dimension);
      const hits = snapshot.search(query, { k: 10, filter: { colour: 'ultramarine' } });
      const expected = bruteForce(vectors, query, 10, (id) => rare.has(id));
      expect(hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
      hits.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i]?.score ?? NaN, 5));
      expect(hits.every((h) => h.metadata.colour === 'ultramarine')).toBe(true);

      // The same through query-by-id (a rare item as the query: itself excluded, 10 of the other 19).
      const anchor = [...rare][q] as string;
      const byId = snapshot.searchById(anchor, { k: 10, filter: { colour: 'ultramarine' } });
      const expectedById = bruteForce(
        vectors,
        vectors.get(anchor) as Float32Array,
        10,
        (id) => rare.has(id) && id !== anchor,
      );
      expect(byId.map((h) => h.id)).toEqual(expectedById.map((e) => e.id));
    }

    // A common value (a third of the items) goes through FAISS over-fetch; any-of and AND across fields.
    const query = unitVector(random, dimension);
    const common = snapshot.search(query, { k: 25, filter: { band: 1 } });
    expect(common.map((h) => h.id)).toEqual(
      bruteForce(vectors, query, 25, (id) => Number(id.slice(5)) % 3 === 1).map((e) => e.id),
    );
    const anyOf = snapshot.search(query, {
      k: 30,
      filter: { colour: ['c1', 'c2', 'ultramarine'], band: ['0', 2] },
    });
    const acceptAnyOf = (id: string): boolean => {
      const i = Number(id.slice(5));
      const colour = rare.has(id) ? 'ultramarine' : `c${i % 7}`;
      return ['c1', 'c2', 'ultramarine'].includes(colour) && i % 3 !== 1;
    };
    expect(anyOf.map((h) => h.id)).toEqual(bruteForce(vectors, query, 30, acceptAnyOf).map((e) => e.id));
    expect(snapshot.search(query, { k: 5, filter: { colour: 'no-such' } })).toEqual([]);
    expect(snapshot.search(query, { k: 5, filter: { nofield: 'x' } })).toEqual([]);
    await writer.close();
  });
});
