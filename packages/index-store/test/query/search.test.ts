import { IndexFlatIP } from 'faiss-node';
import {
  FIELD_VALUES_CAP,
  InvalidChangeError,
  InvalidQueryError,
  ItemNotFoundError,
  ModelMismatchError,
  SnapshotReader,
  SnapshotWriter,
  type SearchRequest,
  type Snapshot,
} from '../../src';
import { TEST_MODEL, bruteForce, dot, item, modelOf, rng, tempDataDir, unitVector } from '../helpers';

describe('snapshot search (real faiss, real files)', () => {
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

  it('upserts replace in place, deletes of unknown ids are reported, metadata fields are listed', async () => {
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
      version: 1,
      count: 3,
      upserted: ['a', 'b', 'c'],
      deleted: [],
      unknownDeletes: ['ghost'],
    });
    const newB = unitVector(random, dimension);
    const second = await writer.publish({
      upserts: [{ id: 'b', vector: newB, metadata: { colour: 'green' }, contentHash: 'h2' }],
      deletes: ['a', 'zzz'],
    });
    expect(second).toEqual({
      version: 2,
      count: 2,
      upserted: ['b'],
      deleted: ['a'],
      unknownDeletes: ['zzz'],
    });
    const snapshot = (await writer.latest()) as Snapshot;
    expect([...snapshot.ids()]).toEqual(['b', 'c']);
    expect(snapshot.get('b')).toMatchObject({ id: 'b', metadata: { colour: 'green' }, contentHash: 'h2' });
    expect(Array.from(snapshot.vectorOf('b') as Float32Array)).toEqual(Array.from(newB));
    expect(snapshot.get('a')).toBeUndefined();
    expect(snapshot.metadataFields()).toEqual({ colour: ['green', 'red'] });
    expect(snapshot.search(newB, { k: 1, filter: { colour: 'green' } })[0]?.id).toBe('b');

    // Nothing to change: no new version.
    const noop = await writer.publish({ upserts: [], deletes: ['a'] });
    expect(noop).toEqual({ version: 2, count: 2, upserted: [], deleted: [], unknownDeletes: ['a'] });
    await writer.close();
  });

  it('lists metadata values most frequent first, capped, and treats odd field names as plain fields', async () => {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: modelOf(4) });
    const random = rng(17);
    const upserts = Array.from({ length: 400 }, (_, i) =>
      item(`m${i}`, unitVector(random, 4), {
        // value v0 on 250 items, then v1..v150 once each: 151 distinct values.
        brand: i < 250 ? 'v0' : `v${i - 249}`,
        ['__proto__']: 'odd',
        constructor: i % 2,
      }),
    );
    await writer.publish({ upserts, deletes: [] });
    const snapshot = (await writer.latest()) as Snapshot;
    const fields = snapshot.metadataFields();
    expect(Object.keys(fields).sort()).toEqual(['__proto__', 'brand', 'constructor']);
    expect(fields.brand).toHaveLength(FIELD_VALUES_CAP);
    expect(fields.brand?.[0]).toBe('v0');
    expect(Object.hasOwn(fields, '__proto__')).toBe(true);
    expect(fields['constructor']).toEqual(['0', '1']);
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    const hits = snapshot.search(unitVector(random, 4), {
      k: 3,
      filter: { ['__proto__']: 'odd', constructor: 1 },
    });
    expect(hits).toHaveLength(3);
    expect(hits.every((h) => h.metadata['constructor'] === 1)).toBe(true);
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
      version: 2,
      count: 1,
      upserted: ['y'],
      deleted: ['x'],
      unknownDeletes: ['never-there'],
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

  it('searchMany answers a batch of mixed queries as one search each would, errors in their slots', async () => {
    const dimension = 48;
    const random = rng(21);
    // Three shards through the reader: the batched first round is merged across shards per query.
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(dimension),
      shardSize: 700,
    });
    const upserts = Array.from({ length: 2000 }, (_, i) =>
      item(`item-${i}`, unitVector(random, dimension), { colour: i % 400 === 7 ? 'rare' : `c${i % 3}` }),
    );
    // Near-duplicates of item-0, so collapse has something to drop.
    for (let i = 0; i < 5; i++) {
      const twin = Float32Array.from(upserts[0]!.vector, (x) => x + (random() - 0.5) * 0.01);
      upserts.push(item(`twin-${i}`, twin, { colour: 'c0' }));
    }
    await writer.publish({ upserts, deletes: [] });
    await writer.close();
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    try {
      const snapshot = reader.current() as Snapshot;
      const q = () => unitVector(random, dimension);
      const requests: SearchRequest[] = [
        { vector: q(), options: { k: 10 } },
        { id: 'item-5', options: { k: 3 } },
        { vector: q(), options: { k: 100 } },
        { vector: upserts[0]!.vector, options: { k: 5, collapse: 0.99 } },
        { id: 'item-9', options: { k: 10, filter: { colour: 'c1' } } }, // a third: over-fetched from FAISS
        { vector: q(), options: { k: 4, filter: { colour: 'rare' } } }, // five items: scanned exactly
        { vector: q(), options: { k: 10, minScore: 0.2 } },
        { id: 'no-such-item', options: { k: 3 } },
        { vector: new Float32Array(3), options: { k: 3 } },
        { vector: q(), options: { k: 0 } },
      ];
      const outcomes = snapshot.searchMany(requests);
      expect(outcomes).toHaveLength(requests.length);
      requests.forEach((request, i) => {
        const single = () =>
          'id' in request
            ? snapshot.searchById(request.id, request.options)
            : snapshot.search(request.vector, request.options);
        const outcome = outcomes[i]!;
        if ('error' in outcome) {
          expect(single).toThrow(outcome.error.constructor as new () => Error);
          expect(single).toThrow(outcome.error.message);
        } else {
          // Same hits in the same order; BLAS sums a batch in another order, so scores agree to rounding.
          const expected = single();
          expect(outcome.hits.map((h) => [h.id, h.metadata])).toEqual(
            expected.map((h) => [h.id, h.metadata]),
          );
          outcome.hits.forEach((hit, j) => expect(hit.score).toBeCloseTo(expected[j]!.score, 6));
        }
      });
      expect(outcomes.filter((o) => 'error' in o)).toHaveLength(3);
      const [, , deep, collapsed] = outcomes as Array<{ hits: Array<{ id: string }> }>;
      expect(deep!.hits).toHaveLength(100);
      expect(collapsed!.hits.filter((h) => h.id.startsWith('twin-') || h.id === 'item-0')).toHaveLength(1);
      expect((outcomes[7] as { error: Error }).error).toBeInstanceOf(ItemNotFoundError);
      expect((outcomes[8] as { error: Error }).error).toBeInstanceOf(InvalidQueryError);
      expect(snapshot.searchMany([])).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});
