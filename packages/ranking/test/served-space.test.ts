/**
 * The learned ranking in the served space, on real snapshots (the real SnapshotWriter, faiss search):
 * when a snapshot serves a projection, upserts (raw embeddings) are projected into it before their
 * LDA features are made, the model records the space it was fitted in, and a snapshot serving another
 * space (a projection set, replaced or cleared since the fit) ranks by plain similarity — with
 * refitDue saying why — until the refit in the new space publishes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter, type ItemInput, type Snapshot } from '@lookalike/index-store';
import { fitProjection, type LinearProjection } from '@lookalike/projection';
import {
  DEFAULT_RANKING_CONFIG,
  ITEM_DELTA_MIN_ROWS,
  LearnedRanker,
  RANKING_ITEMS_ATTACHMENT,
  RANKING_ITEMS_DELTA_ATTACHMENT,
  decodeItemFeatureDelta,
  RankingMaintainer,
  itemsMatchModel,
  project,
  rankedSearch,
  rankedSearchById,
  readItemFeatures,
  readRankingModel,
  refitDue,
  seededRandom,
} from '@lookalike/ranking';

const D = 16;
const MODEL = { id: 'ranking-space-test', sha256: 'c'.repeat(64), dimension: D };
const CLASSES = ['Shirts', 'Shoes', 'Watches'];
const config = { ...DEFAULT_RANKING_CONFIG, minLabelled: 10, refitMinChanges: 1000 };

/** Items of 3 classes (the class shows in dimensions 0-2), unit raw embeddings with a colour histogram. */
function catalogue(n: number, seed: number, prefix = 'i'): Array<ItemInput & { colour: Float32Array }> {
  const random = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const cls = i % 3;
    const v = Float32Array.from({ length: D }, (_, j) => (random() - 0.5) * (j < 3 ? 0.3 : 1 + j / 4));
    v[cls] = (v[cls] as number) + 0.8;
    const norm = Math.hypot(...v);
    const colour = new Float32Array(4);
    colour[i % 4] = 1;
    return {
      id: `${prefix}${i}`,
      vector: v.map((x) => x / norm),
      metadata: {
        articleType: CLASSES[cls] as string,
        baseColour: ['Red', 'Blue', 'Black', 'White'][i % 4]!,
      },
      contentHash: `h-${prefix}${i}`,
      colour,
    };
  });
}

function fitOn(items: ItemInput[], outputDimension: number, beta: number): LinearProjection {
  const raw = new Float32Array(items.length * D);
  items.forEach((item, i) => raw.set(item.vector, i * D));
  return fitProjection(raw, items.length, MODEL, { outputDimension, beta });
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs((a[j] as number) - (b[j] as number)));
  return worst;
}

/** Every item's stored LDA features are the model's projection of its served vector. */
function expectFeaturesInServedSpace(snapshot: Snapshot): void {
  const model = readRankingModel(snapshot);
  expect(model?.lda).toBeTruthy();
  const lda = model!.lda!;
  expect(model!.servedSpace).toBe(snapshot.projection?.id ?? null);
  expect(lda.inputDimension).toBe(snapshot.dimension);
  const items = readItemFeatures(snapshot);
  expect(itemsMatchModel(model!, items)).toBe(true);
  const m = lda.dimensions;
  for (const id of snapshot.ids()) {
    const want = project(lda, snapshot.vectorOf(id)!, new Float32Array(m));
    const norm = Math.hypot(...want);
    const row = items.rowOf(id)!;
    const got = items.projections.subarray(row * m, (row + 1) * m);
    expect(
      maxDiff(
        got,
        want.map((x) => x / norm),
      ),
    ).toBeLessThan(1e-4);
  }
}

/** Plain similarity as the ranking answers without a usable model: the search itself, score = similarity. */
function expectPlain(snapshot: Snapshot, query: Float32Array): void {
  expect(LearnedRanker.forSnapshot(snapshot)).toBeNull();
  const plain = snapshot.search(query, { k: 10 });
  const ranked = rankedSearch(snapshot, { vector: query }, { k: 10 });
  expect(ranked.map((h) => h.id)).toEqual(plain.map((h) => h.id));
  for (const hit of ranked) expect(hit.score).toBe(hit.similarity);
}

describe('learned ranking in the served (projected) space, on real snapshots', () => {
  let dataDir: string;
  let writer: SnapshotWriter;
  const items = catalogue(150, 5);
  const p1 = fitOn(items, 10, 0.5);
  const p2 = fitOn(items, 8, 0.25);
  const messages: string[] = [];
  let maintainer: RankingMaintainer<Snapshot, Parameters<SnapshotWriter['publish']>[0], unknown>;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'ranking-space-'));
    writer = await SnapshotWriter.open({ dataDir, model: MODEL, gcGraceMs: 0 });
    messages.length = 0;
    maintainer = new RankingMaintainer(writer, {
      config,
      worker: false,
      logger: {
        info: (_d, message) => messages.push(message),
        warn: (_d, message) => messages.push(message),
      },
    });
  });
  afterEach(async () => {
    await maintainer.close();
    await writer.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function latest(): Promise<Snapshot> {
    return (await writer.latest()) as Snapshot;
  }

  test('a fit in the projected space; a one-item upsert is projected with the served projection', async () => {
    await maintainer.publish({ upserts: items, deletes: [], projection: p1, projectionReplaces: null });
    await maintainer.idle();
    let snapshot = await latest();
    expect(snapshot.projection?.id).toBe(p1.descriptor.id);
    expect(readRankingModel(snapshot)?.servedSpace).toBe(p1.descriptor.id);
    expectFeaturesInServedSpace(snapshot);
    expect(refitDue(snapshot, config)).toBeNull();

    // One new item (a raw embedding): its LDA features come from its projected vector.
    const [fresh] = catalogue(1, 99, 'new');
    await maintainer.publish({ upserts: [fresh!], deletes: [] });
    snapshot = await latest();
    expectFeaturesInServedSpace(snapshot);
    const row = readItemFeatures(snapshot).rowOf('new0');
    expect(row).toBeDefined();

    // The ranker is applied: it re-ranks (score ≠ similarity) queries by image (projected) and by id.
    const query = p1.project(fresh!.vector);
    expect(LearnedRanker.forSnapshot(snapshot)).not.toBeNull();
    const ranked = rankedSearch(snapshot, { vector: query }, { k: 10 });
    expect(ranked[0]!.id).toBe('new0');
    expect(ranked.some((h) => h.score !== h.similarity)).toBe(true);
    expect(rankedSearchById(snapshot, 'i0', { k: 5 }).some((h) => h.score !== h.similarity)).toBe(true);
    // A raw (unprojected) query vector is refused loudly, never ranked in the wrong space.
    expect(() => rankedSearch(snapshot, { vector: fresh!.vector }, { k: 10 })).toThrow();
  });

  test('another projection published without the hook: plain similarity and a refit reason until the refit', async () => {
    await maintainer.publish({ upserts: items, deletes: [], projection: p1, projectionReplaces: null });
    await maintainer.idle();
    // The indexer's projection refit publishes straight through the writer: attachments carried over.
    await writer.publish({ upserts: [], deletes: [], projection: p2, projectionReplaces: p1.descriptor.id });
    let snapshot = await latest();
    expect(snapshot.projection?.id).toBe(p2.descriptor.id);
    expect(readRankingModel(snapshot)?.servedSpace).toBe(p1.descriptor.id);
    expectPlain(snapshot, p2.project(items[0]!.vector));
    expect(refitDue(snapshot, config)).toMatch(/served space changed/);

    maintainer.scheduleRefit();
    await maintainer.idle();
    snapshot = await latest();
    expectFeaturesInServedSpace(snapshot);
    expect(LearnedRanker.forSnapshot(snapshot)).not.toBeNull();
    expect(refitDue(snapshot, config)).toBeNull();
  });

  test('a change that sets a projection with upserts: stale features dropped, the refit follows by itself', async () => {
    // First in the raw space (no projection).
    await maintainer.publish({ upserts: items, deletes: [] });
    await maintainer.idle();
    let snapshot = await latest();
    expect(snapshot.projection).toBeNull();
    expect(readRankingModel(snapshot)?.servedSpace).toBeNull();
    expectFeaturesInServedSpace(snapshot);

    const extra = catalogue(3, 42, 'x');
    const fits = maintainer.fits;
    await maintainer.publish({ upserts: extra, deletes: [], projection: p1, projectionReplaces: null });
    // Between the publish and the refit: the raw-space model is not applied to the projected space.
    const between = await latest();
    expect(between.projection?.id).toBe(p1.descriptor.id);
    expect(readItemFeatures(between).projectionDim).toBe(0);
    expect(readItemFeatures(between).hasColour.every((c) => c === 1)).toBe(true);
    expectPlain(between, p1.project(extra[0]!.vector));
    await maintainer.idle();
    expect(maintainer.fits).toBe(fits + 1);
    snapshot = await latest();
    expect(readRankingModel(snapshot)?.servedSpace).toBe(p1.descriptor.id);
    expectFeaturesInServedSpace(snapshot);

    // Clearing the projection is a change of space too: back to a raw-space fit.
    await maintainer.publish({
      upserts: [],
      deletes: [],
      projection: null,
      projectionReplaces: p1.descriptor.id,
    });
    expectPlain(await latest(), items[0]!.vector);
    await maintainer.idle();
    snapshot = await latest();
    expect(snapshot.projection).toBeNull();
    expect(readRankingModel(snapshot)?.servedSpace).toBeNull();
    expectFeaturesInServedSpace(snapshot);
  });

  test('small changes publish only a delta of the item features; a large one folds it into the full table', async () => {
    await maintainer.publish({ upserts: items, deletes: [], projection: p1, projectionReplaces: null });
    await maintainer.idle();
    const fitted = await latest();
    const full = fitted.attachment(RANKING_ITEMS_ATTACHMENT)!;
    expect(fitted.attachmentNames()).not.toContain(RANKING_ITEMS_DELTA_ATTACHMENT);

    // A one-item upsert, then a delete and a relabel: the full table is carried forward unchanged.
    const [fresh] = catalogue(1, 77, 'd');
    await maintainer.publish({ upserts: [fresh!], deletes: [] });
    const relabelled = { ...items[4]!, metadata: { ...items[4]!.metadata, articleType: 'Watches' } };
    await maintainer.publish({ upserts: [relabelled], deletes: ['i7', 'i8'] });
    let snapshot = await latest();
    expect(Buffer.from(snapshot.attachment(RANKING_ITEMS_ATTACHMENT)!).equals(Buffer.from(full))).toBe(true);
    const delta = decodeItemFeatureDelta(snapshot.attachment(RANKING_ITEMS_DELTA_ATTACHMENT)!);
    expect([...delta.rows.ids].sort()).toEqual(['d0', 'i4']);
    expect([...delta.deleted].sort()).toEqual(['i7', 'i8']);
    // Read back, the features are every item's and only theirs, each in the served space.
    const merged = readItemFeatures(snapshot);
    expect([...merged.ids].sort()).toEqual([...snapshot.ids()].sort());
    expect(merged.labelChanges).toBe(1 + 1 + 2);
    expectFeaturesInServedSpace(snapshot);
    expect(merged.hasColour.every((c) => c === 1)).toBe(true);

    // More changed rows than the delta may hold: a new full table, no delta.
    const many = catalogue(ITEM_DELTA_MIN_ROWS + 10, 3, 'm');
    await maintainer.publish({ upserts: many, deletes: [] });
    snapshot = await latest();
    expect(snapshot.attachmentNames()).not.toContain(RANKING_ITEMS_DELTA_ATTACHMENT);
    expect(readItemFeatures(snapshot).ids).toHaveLength(snapshot.count);
    expectFeaturesInServedSpace(snapshot);
  });

  test('a fit overtaken by a new projection under the writer lock is dropped and fitted again', async () => {
    await writer.publish({ upserts: items, deletes: [], projection: p1, projectionReplaces: null });
    let interposed = false;
    // A store whose first ranking publish finds a new projection published just before it.
    const racing = {
      latest: () => writer.latest(),
      publish: async (change: Parameters<SnapshotWriter['publish']>[0]) => {
        if (!interposed) {
          interposed = true;
          await writer.publish({
            upserts: [],
            deletes: [],
            projection: p2,
            projectionReplaces: p1.descriptor.id,
          });
        }
        return writer.publish(change);
      },
    };
    const raced = new RankingMaintainer(racing, {
      config,
      worker: false,
      logger: {
        info: (_d, message) => messages.push(message),
        warn: (_d, message) => messages.push(message),
      },
    });
    raced.scheduleRefit();
    await raced.idle();
    expect(messages).toContain('ranking fit superseded by a new served space; fitting again');
    const snapshot = await latest();
    expect(snapshot.projection?.id).toBe(p2.descriptor.id);
    expectFeaturesInServedSpace(snapshot);
    await raced.close();
  });
});
