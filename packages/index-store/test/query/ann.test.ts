import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  InvalidChangeError,
  SnapshotReader,
  SnapshotWriter,
  parseSearchParameters,
  type ItemInput,
  type Snapshot,
} from '../../src';
import { bruteForce, item, modelOf, rng, tempDataDir, unitVector } from '../helpers';

/**
 * The optional approximate index (INDEX_FACTORY): built by the writer with real faiss, verified and
 * searched by the reader. With nprobe = nlist an IVF index scans every list, so its answers must equal
 * brute force exactly — that pins labels to positions and the parameters to the index.
 */
const DIMENSION = 32;

/** Items around 40 well-separated centres (an IVF index needs structure to be worth anything). */
function clustered(
  count: number,
  seed: number,
): { upserts: ItemInput[]; vectors: Map<string, Float32Array> } {
  const random = rng(seed);
  const centres = Array.from({ length: 40 }, () => unitVector(random, DIMENSION));
  const vectors = new Map<string, Float32Array>();
  const upserts: ItemInput[] = [];
  for (let i = 0; i < count; i++) {
    const centre = centres[i % centres.length] as Float32Array;
    const noise = unitVector(random, DIMENSION);
    const v = new Float32Array(DIMENSION);
    let norm = 0;
    for (let j = 0; j < DIMENSION; j++) {
      v[j] = (centre[j] as number) + 0.4 * (noise[j] as number);
      norm += (v[j] as number) ** 2;
    }
    for (let j = 0; j < DIMENSION; j++) v[j] = (v[j] as number) / Math.sqrt(norm);
    vectors.set(`item-${i}`, v);
    upserts.push(item(`item-${i}`, v, { band: i % 3 }));
  }
  return { upserts, vectors };
}

describe('approximate index (INDEX_FACTORY)', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir('index-store-ann-');
  });
  afterEach(() => data.cleanup());

  it('IVF with nprobe = nlist answers exactly like brute force, through the reader', async () => {
    const { upserts, vectors } = clustered(3000, 11);
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(DIMENSION),
      indexFactory: 'IVF16,Flat',
      searchParameters: { nprobe: 16 },
    });
    await writer.publish({ upserts, deletes: [] });
    await writer.close();
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    try {
      const snapshot = reader.current() as Snapshot;
      expect(snapshot.indexFactory).toBe('IVF16,Flat');
      const random = rng(5);
      for (let q = 0; q < 10; q++) {
        const query = unitVector(random, DIMENSION);
        const hits = snapshot.search(query, { k: 10 });
        const expected = bruteForce(vectors, query, 10);
        expect(hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
        hits.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i]?.score ?? NaN, 4));
      }
      // By id: the item itself is excluded; the filtered path still works (over-fetch through IVF).
      const byId = snapshot.searchById('item-7', { k: 5 });
      expect(byId.map((h) => h.id)).toEqual(
        bruteForce(vectors, vectors.get('item-7') as Float32Array, 6)
          .map((e) => e.id)
          .filter((id) => id !== 'item-7')
          .slice(0, 5),
      );
      const filtered = snapshot.search(vectors.get('item-7') as Float32Array, { k: 5, filter: { band: 1 } });
      expect(filtered).toHaveLength(5);
      expect(filtered.every((h) => h.metadata.band === 1)).toBe(true);
      // A batch goes through the approximate index in one call, with the same answers.
      const batch = [
        { vector: unitVector(random, DIMENSION), options: { k: 10 } },
        { id: 'item-7', options: { k: 5 } },
        { vector: vectors.get('item-7') as Float32Array, options: { k: 5, filter: { band: 1 } } },
      ];
      expect(snapshot.searchMany(batch)).toEqual([
        { hits: snapshot.search(batch[0]!.vector!, batch[0]!.options) },
        { hits: byId },
        { hits: filtered },
      ]);
    } finally {
      await reader.close();
    }
  });

  it('the reader’s search parameters override the published ones (nprobe 1 → 16 makes it exact)', async () => {
    const { upserts, vectors } = clustered(3000, 12);
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(DIMENSION),
      indexFactory: 'IVF16,Flat',
      searchParameters: { nprobe: 1 },
    });
    await writer.publish({ upserts, deletes: [] });
    await writer.close();
    const manifestDir = path.join(
      data.dir,
      'snapshots',
      readdirSync(path.join(data.dir, 'snapshots'))[0] as string,
    );
    const manifest = JSON.parse(readFileSync(path.join(manifestDir, 'manifest.json'), 'utf8')) as {
      ann: { factory: string; file: string; parameters: Record<string, number> };
    };
    expect(manifest.ann).toEqual({ factory: 'IVF16,Flat', file: 'ann.faiss', parameters: { nprobe: 1 } });

    const random = rng(6);
    const queries = Array.from({ length: 20 }, () => unitVector(random, DIMENSION));
    const recallWith = async (searchParameters?: Record<string, number>): Promise<number> => {
      const reader = await SnapshotReader.open({
        dataDir: data.dir,
        pollIntervalMs: 60_000,
        ...(searchParameters ? { searchParameters } : {}),
      });
      try {
        const snapshot = reader.current() as Snapshot;
        let found = 0;
        for (const query of queries) {
          const expected = new Set(bruteForce(vectors, query, 10).map((e) => e.id));
          found += snapshot.search(query, { k: 10 }).filter((h) => expected.has(h.id)).length;
        }
        return found / (queries.length * 10);
      } finally {
        await reader.close();
      }
    };
    expect(await recallWith({ nprobe: 16 })).toBe(1);
    // nprobe 1 of 16 lists on data with 40 clusters misses some neighbours: the parameter took effect.
    expect(await recallWith()).toBeLessThan(1);
  });

  it('HNSW builds without training and finds the query item itself first', async () => {
    const { upserts, vectors } = clustered(1500, 13);
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(DIMENSION),
      indexFactory: 'HNSW16',
      searchParameters: { efSearch: 64 },
    });
    await writer.publish({ upserts, deletes: [] });
    await writer.close();
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    try {
      const snapshot = reader.current() as Snapshot;
      expect(snapshot.indexFactory).toBe('HNSW16');
      for (const id of ['item-0', 'item-99', 'item-1234']) {
        const hits = snapshot.search(vectors.get(id) as Float32Array, { k: 10 });
        expect(hits).toHaveLength(10);
        expect(hits[0]?.id).toBe(id);
      }
    } finally {
      await reader.close();
    }
  });

  it('a snapshot too small to train on is published flat and stays searchable', async () => {
    const { upserts, vectors } = clustered(10, 14);
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(DIMENSION),
      indexFactory: 'IVF64,Flat',
    });
    await writer.publish({ upserts, deletes: [] });
    await writer.close();
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    try {
      const snapshot = reader.current() as Snapshot;
      expect(snapshot.indexFactory).toBeNull();
      const query = vectors.get('item-3') as Float32Array;
      expect(snapshot.search(query, { k: 3 }).map((h) => h.id)).toEqual(
        bruteForce(vectors, query, 3).map((e) => e.id),
      );
    } finally {
      await reader.close();
    }
  });

  it('a tampered approximate index is rejected and the reader keeps no snapshot', async () => {
    const { upserts } = clustered(2000, 15);
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(DIMENSION),
      indexFactory: 'IVF8,Flat',
    });
    await writer.publish({ upserts, deletes: [] });
    await writer.close();
    const dir = path.join(data.dir, 'snapshots', readdirSync(path.join(data.dir, 'snapshots'))[0] as string);
    const bytes = readFileSync(path.join(dir, 'ann.faiss'));
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff;
    writeFileSync(path.join(dir, 'ann.faiss'), bytes);
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    try {
      expect(reader.current()).toBeNull();
      expect(reader.status().lastRejection?.reason).toMatch(/ann\.faiss checksum mismatch/);
    } finally {
      await reader.close();
    }
  });

  it('refuses a factory or a parameter faiss does not know when the writer opens', async () => {
    const open = (indexFactory: string, searchParameters?: Record<string, number>) =>
      SnapshotWriter.open({
        dataDir: data.dir,
        model: modelOf(DIMENSION),
        indexFactory,
        ...(searchParameters ? { searchParameters } : {}),
      });
    await expect(open('NoSuchIndex42')).rejects.toThrow(InvalidChangeError);
    await expect(open('IVF8,Flat; rm -rf /')).rejects.toThrow(InvalidChangeError);
    await expect(open('IVF8,Flat', { efSearch: 10 })).rejects.toThrow(/efSearch/);
    await expect(open('HNSW16', { efSearch: 10 })).resolves.toBeInstanceOf(SnapshotWriter);
  });

  it('parses search parameters', () => {
    expect(parseSearchParameters(undefined)).toEqual({});
    expect(parseSearchParameters(' nprobe=32 , efSearch = 64 ')).toEqual({ nprobe: 32, efSearch: 64 });
    expect(() => parseSearchParameters('nprobe')).toThrow(/name=number/);
    expect(() => parseSearchParameters('nprobe=lots')).toThrow(/name=number/);
  });
});
