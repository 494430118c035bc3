import {
  InvalidQueryError,
  ItemNotFoundError,
  SnapshotReader,
  SnapshotWriter,
  type SearchRequest,
  type Snapshot,
} from '../../src';
import { item, modelOf, rng, tempDataDir, unitVector } from '../helpers';

describe('searchMany: batched queries (real faiss, real files)', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir();
  });
  afterEach(() => data.cleanup());

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
