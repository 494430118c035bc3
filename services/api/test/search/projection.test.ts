/**
 * Uploads against a real snapshot that serves a learned projection (written by the real
 * SnapshotWriter, read back as the reader serves it): the raw embedding is projected with the served
 * snapshot's own projection before the search, also when a hot swap to a version with another
 * projection happens while the image is embedded. The embedder is the API's fake (hash → vector).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter, type ItemInput, type Snapshot } from '@lookalike/index-store';
import { fitProjection, type LinearProjection } from '@lookalike/projection';
import {
  DEFAULT_RANKING_CONFIG,
  RankingMaintainer,
  rankedSearch,
  readRankingModel,
} from '@lookalike/ranking';
import { DEFAULT_NEGATIVE_WEIGHT, rocchioQuery } from '../../src/search/rocchio';
import { FAKE_MODEL, buildTestApp, fakeVector, solidPng, type TestApp } from '../helpers';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A unit vector with an anisotropic spread (so the whitening fit has something to learn). */
function rawVector(random: () => number): Float32Array {
  const v = Float32Array.from({ length: FAKE_MODEL.dimension }, (_, j) => (random() - 0.5) * (1 + j));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

const until = async (done: () => boolean) => {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('image queries in the served (projected) space', () => {
  let t: TestApp;
  let dataDir: string;
  let writer: SnapshotWriter;
  let images: Buffer[];
  const raw = new Map<string, Float32Array>();
  let p1: LinearProjection;
  let p2: LinearProjection;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-projection-'));
    images = [await solidPng([10, 120, 200]), await solidPng([200, 30, 40]), await solidPng([5, 5, 5])];
    const random = rng(7);
    for (let i = 0; i < 120; i++) raw.set(`item-${i}`, rawVector(random));
    // The uploads' own raw vectors are in the catalogue too (each image finds its item).
    images.forEach((image, i) => raw.set(`image-${i}`, fakeVector(image)));
    const all = new Float32Array(raw.size * FAKE_MODEL.dimension);
    [...raw.values()].forEach((v, i) => all.set(v, i * FAKE_MODEL.dimension));
    // Two different learned spaces (different dimensions, so mixing them up could not go unnoticed).
    p1 = fitProjection(all, raw.size, FAKE_MODEL, { outputDimension: 4, beta: 0.5 });
    p2 = fitProjection(all, raw.size, FAKE_MODEL, { outputDimension: 6, beta: 0.25 });
    writer = await SnapshotWriter.open({ dataDir, model: FAKE_MODEL, gcGraceMs: 0 });
    await writer.publish({
      upserts: [...raw].map(([id, vector]) => ({ id, vector, metadata: { n: id }, contentHash: `h-${id}` })),
      deletes: [],
      projection: p1,
      projectionReplaces: null,
    });
    t = await buildTestApp({ INFERENCE_CONCURRENCY: '1' });
    t.snapshots.swap((await writer.latest()) as Snapshot);
  });
  afterAll(async () => {
    await t?.app.close();
    await writer?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const upload = (image: Buffer, body: Record<string, unknown> = {}) =>
    t.request('/v1/similar', {
      method: 'POST',
      json: { imageBase64: image.toString('base64'), k: 8, ...body },
    });

  /** What the snapshot answers for the raw vector projected with `projection`, as the API shapes it. */
  function expected(snapshot: Snapshot, projection: LinearProjection, image: Buffer, k = 8) {
    return snapshot.search(projection.project(fakeVector(image)), { k }).map((hit) => ({
      id: hit.id,
      score: hit.score,
      similarity: hit.score,
    }));
  }

  function shape(body: Record<string, unknown>) {
    return (body.results as Array<{ id: string; score: number; similarity: number }>).map((r) => ({
      id: r.id,
      score: r.score,
      similarity: r.similarity,
    }));
  }

  test('an upload is projected with the served projection: its results are those of the projected vector', async () => {
    const snapshot = t.snapshots.current() as Snapshot;
    expect(snapshot.projection?.id).toBe(p1.descriptor.id);
    for (const image of images) {
      const response = await upload(image);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.indexVersion).toBe(snapshot.version);
      const got = shape(body);
      const want = expected(snapshot, p1, image);
      expect(got.map((r) => r.id)).toEqual(want.map((r) => r.id));
      got.forEach((r, i) => expect(r.score).toBeCloseTo(want[i]!.score, 5));
      // The image's own item is its nearest neighbour, at cosine 1 in the served space.
      expect(got[0]!.id).toBe(`image-${images.indexOf(image)}`);
      expect(got[0]!.similarity).toBeCloseTo(1, 5);
    }
  });

  test('/v1/index reports the served dimension, the embedding dimension and the projection', async () => {
    const body = (await t.request('/v1/index')).json();
    expect(body).toMatchObject({
      dimension: 4,
      embeddingDimension: FAKE_MODEL.dimension,
      projection: {
        kind: p1.descriptor.kind,
        id: p1.descriptor.id,
        outputDimension: 4,
        fittedOn: raw.size,
        fittedAt: p1.descriptor.fittedAt,
      },
    });
  });

  test('a hot swap while the image is embedded: the query is projected with the new version’s projection', async () => {
    const before = t.snapshots.current() as Snapshot;
    let release: () => void = () => {};
    t.embedder.hold = new Promise<void>((resolve) => (release = resolve));
    const calls = t.embedder.calls;
    const query = upload(images[1]!);
    await until(() => t.embedder.calls > calls);
    // The indexer publishes another projection (a full re-projection from the stored raw vectors).
    await writer.publish({ upserts: [], deletes: [], projection: p2, projectionReplaces: p1.descriptor.id });
    const after = (await writer.latest()) as Snapshot;
    expect(after.version).toBeGreaterThan(before.version);
    expect(after.projection?.id).toBe(p2.descriptor.id);
    t.snapshots.swap(after);
    release();
    t.embedder.hold = null;
    const response = await query;
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.indexVersion).toBe(after.version);
    const got = shape(body);
    const want = expected(after, p2, images[1]!);
    expect(got.map((r) => r.id)).toEqual(want.map((r) => r.id));
    got.forEach((r, i) => expect(r.score).toBeCloseTo(want[i]!.score, 5));
    expect((await t.request('/v1/index')).json()).toMatchObject({
      dimension: 6,
      projection: { id: p2.descriptor.id, outputDimension: 6 },
    });
  });

  test('by-id queries search the stored compact vector', async () => {
    const snapshot = t.snapshots.current() as Snapshot;
    const response = await t.request('/v1/items/image-0/similar?k=5');
    expect(response.statusCode).toBe(200);
    const want = snapshot.searchById('image-0', { k: 5 });
    expect(shape(response.json()).map((r) => r.id)).toEqual(want.map((h) => h.id));
  });

  test('recommend: a hot swap to another projection during inference — ids and images both read from the new version', async () => {
    const before = t.snapshots.current() as Snapshot;
    const current = before.projection?.id;
    // A third space of yet another dimension: a stored vector of the old version mixed with an image
    // projected into the new one could not even be added up.
    const all = new Float32Array(raw.size * FAKE_MODEL.dimension);
    [...raw.values()].forEach((v, i) => all.set(v, i * FAKE_MODEL.dimension));
    const p3 = fitProjection(all, raw.size, FAKE_MODEL, { outputDimension: 5, beta: 0.5 });
    let release: () => void = () => {};
    t.embedder.hold = new Promise<void>((resolve) => (release = resolve));
    const calls = t.embedder.calls;
    const query = t.request('/v1/recommend', {
      method: 'POST',
      json: {
        positive: [{ id: 'item-3' }, { imageBase64: images[2]!.toString('base64') }],
        negative: [{ id: 'item-5' }],
        k: 8,
      },
    });
    await until(() => t.embedder.calls > calls);
    await writer.publish({ upserts: [], deletes: [], projection: p3, projectionReplaces: current ?? null });
    const after = (await writer.latest()) as Snapshot;
    expect(after.dimension).toBe(5);
    t.snapshots.swap(after);
    release();
    t.embedder.hold = null;
    const response = await query;
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.indexVersion).toBe(after.version);
    const q = rocchioQuery(
      [after.vectorOf('item-3')!, p3.project(fakeVector(images[2]!))],
      [after.vectorOf('item-5')!],
      DEFAULT_NEGATIVE_WEIGHT,
    );
    const want = after.search(q, { k: 8, exclude: ['item-3', 'item-5'] });
    const got = shape(body);
    expect(got.map((r) => r.id)).toEqual(want.map((h) => h.id));
    got.forEach((r, i) => expect(r.score).toBeCloseTo(want[i]!.score, 5));
  });
});

describe('the learned ranking of uploads in the served (projected) space', () => {
  let t: TestApp;
  let dataDir: string;
  let writer: SnapshotWriter;
  let image: Buffer;
  let projection: LinearProjection;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-projection-ranking-'));
    image = await solidPng([90, 60, 30]);
    const random = rng(11);
    const classes = ['Shirts', 'Shoes', 'Watches'];
    const items: ItemInput[] = Array.from({ length: 90 }, (_, i) => {
      const vector = rawVector(random);
      vector[i % 3] = (vector[i % 3] as number) + 0.5; // the class shows in dimensions 0-2
      const norm = Math.hypot(...vector);
      return {
        id: `item-${i}`,
        vector: vector.map((x) => x / norm),
        metadata: { articleType: classes[i % 3] as string },
        contentHash: `h-${i}`,
      };
    });
    items.push({
      id: 'upload',
      vector: fakeVector(image),
      metadata: { articleType: 'Shoes' },
      contentHash: 'h-u',
    });
    const all = new Float32Array(items.length * FAKE_MODEL.dimension);
    items.forEach((item, i) => all.set(item.vector, i * FAKE_MODEL.dimension));
    projection = fitProjection(all, items.length, FAKE_MODEL, { outputDimension: 6, beta: 0.5 });
    writer = await SnapshotWriter.open({ dataDir, model: FAKE_MODEL, gcGraceMs: 0 });
    // The indexer's publish path: the ranking is fitted on the projected vectors and published.
    const maintainer = new RankingMaintainer(writer, {
      config: { ...DEFAULT_RANKING_CONFIG, minLabelled: 10 },
      worker: false,
    });
    await maintainer.publish({ upserts: items, deletes: [], projection, projectionReplaces: null });
    await maintainer.idle();
    await maintainer.close();
    t = await buildTestApp();
    t.snapshots.swap((await writer.latest()) as Snapshot);
  });
  afterAll(async () => {
    await t?.app.close();
    await writer?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('an upload is re-ranked by the model fitted in the served space, from its projected vector', async () => {
    const snapshot = t.snapshots.current() as Snapshot;
    expect(readRankingModel(snapshot)?.servedSpace).toBe(projection.descriptor.id);
    const response = await t.request('/v1/similar', {
      method: 'POST',
      json: { imageBase64: image.toString('base64'), k: 8 },
    });
    expect(response.statusCode).toBe(200);
    const results = response.json().results as Array<{ id: string; score: number; similarity: number }>;
    const want = rankedSearch(snapshot, { vector: projection.project(fakeVector(image)) }, { k: 8 });
    expect(results.map((r) => r.id)).toEqual(want.map((h) => h.id));
    results.forEach((r, i) => {
      expect(r.score).toBeCloseTo(want[i]!.score, 5);
      expect(r.similarity).toBeCloseTo(want[i]!.similarity, 5);
    });
    // The learned ranking was applied (not plain similarity).
    expect(results.some((r) => Math.abs(r.score - r.similarity) > 1e-6)).toBe(true);
  });

  test('recommend with one positive id answers exactly the by-id query (its own labels given to the ranking)', async () => {
    let differs = 0;
    for (const id of ['item-0', 'item-1', 'item-2', 'item-10', 'item-20', 'item-31']) {
      const byId = (await t.request(`/v1/items/${id}/similar?k=8`)).json();
      const recommend = (positive: Array<{ id: string }>) =>
        t.request('/v1/recommend', { method: 'POST', json: { positive, k: 8 } });
      const single = await recommend([{ id }]);
      expect(single.statusCode).toBe(200);
      // The same answer but for its own queryId (every result list gets a fresh one).
      expect({ ...single.json(), queryId: byId.queryId }).toEqual(byId);
      // The general path (the same vector, labels voted instead of known) is not always the same answer:
      // the equivalence is a deliberate route, not arithmetic.
      const general = (await recommend([{ id }, { id }])).json();
      // (Scores, beyond float noise: voted label shares are not the one-hot of a known label.)
      const scores = (body: Record<string, unknown>) =>
        (body.results as Array<{ id: string; score: number }>).map((r) => `${r.id}:${r.score.toFixed(4)}`);
      if (scores(general).join() !== scores(byId).join()) differs++;
    }
    expect(differs).toBeGreaterThan(0);
  });
});
