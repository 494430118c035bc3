import {
  DEFAULT_RANKING_CONFIG,
  LearnedRanker,
  RANKING_ITEMS_ATTACHMENT,
  RANKING_MODEL_ATTACHMENT,
  RankingMaintainer,
  decodeItemFeatures,
  decodeItemFeatureDelta,
  readItemFeatures,
  RANKING_ITEMS_DELTA_ATTACHMENT,
  decodeRankingModel,
  deriveRankingAttachments,
  encodeRankingModel,
  fitLda,
  fitRankingModel,
  rankedSearch,
  refitDue,
  seededRandom,
  type RankingSnapshot,
  type SearchHit,
  type SearchOptions,
} from '@lookalike/ranking';

const D = 16;

/** Items of 3 classes whose class shows only in dimensions 0-2, buried under noise in the rest. */
function synthetic(n: number, seed = 3) {
  const random = seededRandom(seed);
  const classes = ['Shirts', 'Shoes', 'Watches'];
  const items = Array.from({ length: n }, (_, i) => {
    const cls = i % 3;
    const v = new Float32Array(D);
    for (let j = 0; j < D; j++) v[j] = (random() - 0.5) * (j < 3 ? 0.3 : 2);
    v[cls] = (v[cls] as number) + 0.6;
    let s = 0;
    for (const x of v) s += x * x;
    for (let j = 0; j < D; j++) v[j] = (v[j] as number) / Math.sqrt(s);
    const colour = new Float32Array(4);
    colour[i % 4] = 1;
    return {
      id: `i${i}`,
      vector: v,
      metadata: {
        articleType: classes[cls] as string,
        baseColour: ['Red', 'Blue', 'Black', 'White'][i % 4] as string,
      },
      contentHash: `h${i}`,
      colour,
    };
  });
  return items;
}

/** A brute-force snapshot with attachments, as the real one behaves for these calls. */
class FakeSnapshot implements RankingSnapshot {
  constructor(
    private readonly items: ReturnType<typeof synthetic>,
    private readonly files: Record<string, Uint8Array | null> = {},
    readonly version = 1,
  ) {}
  readonly dimension = D;
  /** Serves the raw vectors (the projected space is tested on real snapshots in served-space.test.ts). */
  readonly projection = null;
  projector() {
    return null;
  }
  get count() {
    return this.items.length;
  }
  get(id: string) {
    return this.items.find((i) => i.id === id);
  }
  vectorOf(id: string) {
    return this.get(id)?.vector;
  }
  ids() {
    return this.items.map((i) => i.id);
  }
  attachment(name: string) {
    return this.files[name] ?? undefined;
  }
  search(vector: Float32Array, options: SearchOptions, exclude?: string): SearchHit[] {
    return this.items
      .filter((i) => i.id !== exclude)
      .map((i) => ({
        id: i.id,
        metadata: i.metadata,
        score: i.vector.reduce((s, x, j) => s + x * (vector[j] as number), 0),
      }))
      .sort((a, b) => b.score - a.score)
      .slice(0, options.k);
  }
  searchById(id: string, options: SearchOptions) {
    return this.search(this.get(id)!.vector, options, id);
  }
}

describe('LDA', () => {
  test('finds the discriminant dimensions; null with fewer than two usable classes', () => {
    const items = synthetic(300);
    const vectors = new Float32Array(items.length * D);
    items.forEach((item, i) => vectors.set(item.vector, i * D));
    const labels = items.map((i) => i.metadata.articleType);
    const lda = fitLda(vectors, D, labels, {
      dimensions: 8,
      shrinkage: 0.1,
      minClassSize: 2,
      maxScatterSamples: 1000,
    });
    expect(lda).not.toBeNull();
    expect(lda!.dimensions).toBe(2); // classes − 1
    // The weight mass sits on the informative dimensions 0-2.
    const row = lda!.weights.subarray(0, D);
    const informative = Math.abs(row[0]!) + Math.abs(row[1]!) + Math.abs(row[2]!);
    const rest = [...row.subarray(3)].reduce((s, x) => s + Math.abs(x), 0) / (D - 3);
    expect(informative / 3).toBeGreaterThan(3 * rest);
    expect(
      fitLda(
        vectors,
        D,
        labels.map(() => 'Shirts'),
        { dimensions: 8, shrinkage: 0.1, minClassSize: 2, maxScatterSamples: 1000 },
      ),
    ).toBeNull();
  });
});

describe('ranking state and query-time re-ranking', () => {
  const config = {
    ...DEFAULT_RANKING_CONFIG,
    minLabelled: 10,
    weights: { ...DEFAULT_RANKING_CONFIG.weights, candidates: 50 },
  };

  test('fit, publish hook, serialisation and re-ranking fit together', () => {
    const items = synthetic(120);
    const plain = new FakeSnapshot(items, deriveRankingAttachments(null, { upserts: items, deletes: [] }));
    expect(refitDue(plain, config)).toMatch(/no model yet/);
    const vectors = new Float32Array(items.length * D);
    items.forEach((item, i) => vectors.set(item.vector, i * D));
    const model = fitRankingModel(
      { dimension: D, vectors, labels: items.map((i) => i.metadata.articleType), snapshotVersion: 1 },
      config,
    );
    expect(model).not.toBeNull();
    expect(decodeRankingModel(encodeRankingModel(model!))).toEqual(model);
    const files = deriveRankingAttachments(plain, { upserts: [], deletes: [] }, model);
    const ranked = new FakeSnapshot(items, files);
    expect(refitDue(ranked, config)).toBeNull();
    const table = decodeItemFeatures(files[RANKING_ITEMS_ATTACHMENT]!);
    expect(table.ids).toHaveLength(120);
    expect(table.projectionDim).toBe(2);
    expect([...table.hasColour].every((x) => x === 1)).toBe(true);

    // Ranked results keep the query's class better than plain neighbours do.
    let plainHits = 0;
    let rankedHits = 0;
    for (const item of items.slice(0, 30)) {
      const query = { vector: item.vector, colour: item.colour };
      const same = (hits: SearchHit[]) =>
        hits.filter((h) => h.metadata.articleType === item.metadata.articleType).length;
      plainHits += same(ranked.searchById(item.id, { k: 5 }));
      rankedHits += same(LearnedRanker.forSnapshot(ranked)!.searchById(ranked, item.id, { k: 5 }));
      const results = rankedSearch(ranked, query, { k: 5 });
      expect(results).toHaveLength(5);
      // `similarity` stays the plain cosine of each result; `score` is the ranking score it is ordered by.
      for (const hit of results) {
        const cosine = item.vector.reduce((sum, x, j) => sum + x * ranked.vectorOf(hit.id)![j]!, 0);
        expect(hit.similarity).toBeCloseTo(cosine, 5);
      }
      const scores = results.map((hit) => hit.score);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    }
    expect(rankedHits).toBeGreaterThan(plainHits);
    // Without a model: plain results, unchanged.
    const q = items[0]!;
    expect(rankedSearch(plain, q, { k: 5 })).toEqual(
      plain.search(q.vector, { k: 5 }).map((hit) => ({ ...hit, similarity: hit.score })),
    );
  });

  test('colourOf gives an item its stored histogram back; colourRoot (√p, signed) replaces colour', () => {
    const items = synthetic(120);
    const plain = new FakeSnapshot(items, deriveRankingAttachments(null, { upserts: items, deletes: [] }));
    const vectors = new Float32Array(items.length * D);
    items.forEach((item, i) => vectors.set(item.vector, i * D));
    const model = fitRankingModel(
      { dimension: D, vectors, labels: items.map((i) => i.metadata.articleType), snapshotVersion: 1 },
      config,
    );
    const ranked = new FakeSnapshot(
      items,
      deriveRankingAttachments(plain, { upserts: [], deletes: [] }, model),
    );
    const ranker = LearnedRanker.forSnapshot(ranked)!;
    // One-hot histograms survive the √p byte quantisation exactly.
    expect(Array.from(ranker.colourOf('i5')!)).toEqual(Array.from(items[5]!.colour));
    expect(ranker.colourOf('nope')).toBeUndefined();

    const item = items[0]!;
    const byColour = rankedSearch(ranked, { vector: item.vector, colour: item.colour }, { k: 10 });
    // The same colour as √p gives the same answer.
    const root = Float32Array.from(item.colour, (p) => Math.sqrt(p));
    expect(rankedSearch(ranked, { vector: item.vector, colourRoot: root }, { k: 10 })).toEqual(byColour);
    // A signed √p that subtracts the query's own colour pushes that colour down the list.
    const away = Float32Array.from(item.colour, (p) => -Math.sqrt(p));
    const sameColour = (hits: SearchHit[]) =>
      hits.filter((h) => h.metadata.baseColour === item.metadata.baseColour).length;
    const pushed = rankedSearch(ranked, { vector: item.vector, colourRoot: away }, { k: 10 });
    expect(sameColour(pushed)).toBeLessThan(sameColour(byColour));
  });

  test('the publish hook follows upserts and deletes and counts label changes towards a refit', () => {
    const items = synthetic(60);
    const vectors = new Float32Array(items.length * D);
    items.forEach((item, i) => vectors.set(item.vector, i * D));
    const model = fitRankingModel(
      { dimension: D, vectors, labels: items.map((i) => i.metadata.articleType), snapshotVersion: 1 },
      config,
    )!;
    const baseFiles = deriveRankingAttachments(null, { upserts: items, deletes: [] }, model);
    const base = new FakeSnapshot(items, baseFiles);
    const relabelled = { ...items[0]!, metadata: { ...items[0]!.metadata, articleType: 'Watches' } };
    const fresh = synthetic(63, 9)
      .slice(60)
      .map((i) => ({ ...i, id: `new-${i.id}` }));
    const next = deriveRankingAttachments(base, { upserts: [relabelled, ...fresh], deletes: ['i1', 'i2'] });
    expect(next[RANKING_MODEL_ATTACHMENT]).toBeUndefined(); // the model is carried forward by the store
    // A small change publishes only the delta; the full table is carried forward by the store.
    expect(next[RANKING_ITEMS_ATTACHMENT]).toBeUndefined();
    expect(decodeItemFeatureDelta(next[RANKING_ITEMS_DELTA_ATTACHMENT]!).rows.ids).toHaveLength(4);
    const files = { ...baseFiles, ...next };
    const table = readItemFeatures({ attachment: (name) => files[name] ?? undefined });
    expect(table.ids).toHaveLength(60 - 2 + 3);
    expect(table.rowOf('i1')).toBeUndefined();
    expect(table.rowOf('new-i60')).toBeDefined();
    expect(table.labelChanges).toBe(1 + 3 + 2);
    // A full replacement (another embedding model) drops the model so it is fitted again.
    expect(
      deriveRankingAttachments(base, { upserts: items, deletes: [], replaceAll: true })[
        RANKING_MODEL_ATTACHMENT
      ],
    ).toBeNull();
  });
});

describe('RankingMaintainer with two replicas', () => {
  const config = { ...DEFAULT_RANKING_CONFIG, minLabelled: 10 };
  const items = synthetic(60);
  const vectors = new Float32Array(items.length * D);
  items.forEach((item, i) => vectors.set(item.vector, i * D));
  const labels = items.map((i) => i.metadata.articleType);
  // v1: no model yet, so a fit is due; v2: another replica already published a model fitted on v2.
  const v1 = new FakeSnapshot(items, deriveRankingAttachments(null, { upserts: items, deletes: [] }), 1);
  const newer = fitRankingModel({ dimension: D, vectors, labels, snapshotVersion: 2 }, config)!;
  const v2 = new FakeSnapshot(items, deriveRankingAttachments(v1, { upserts: [], deletes: [] }, newer), 2);

  /** `latest()` answers `seen` in turn; every publish applies its hook to `base` and records the result. */
  function replica(seen: FakeSnapshot[], base: FakeSnapshot) {
    const published: Array<Record<string, Uint8Array | null>> = [];
    const messages: string[] = [];
    const store = {
      latest: async () => seen.shift() ?? base,
      publish: async (change: { deriveAttachments?: (b: FakeSnapshot | null) => unknown }) => {
        published.push((await change.deriveAttachments?.(base)) as Record<string, Uint8Array | null>);
        return { version: base.version + 1 };
      },
    };
    const maintainer = new RankingMaintainer(store as never, {
      config,
      dimension: D,
      worker: false,
      logger: { info: (_details, message) => messages.push(message), warn: () => undefined },
    });
    return { maintainer, published, messages };
  }

  test('a fit that finishes after a newer model was published is dropped before publishing', async () => {
    const { maintainer, published, messages } = replica([v1, v2], v2);
    expect(await maintainer.refitIfDue()).toBe(false);
    expect(published).toEqual([]);
    expect(messages).toContain('ranking fit superseded by a newer one; not published');
  });

  test('under the writer lock, an older fit leaves the newer model of the base in place', async () => {
    // The newer model lands between the check and the publish: only the base seen under the lock knows.
    const { maintainer, published } = replica([v1, v1], v2);
    expect(await maintainer.refitIfDue()).toBe(true);
    expect(published).toHaveLength(1);
    expect(Object.keys(published[0]!)).not.toContain(RANKING_MODEL_ATTACHMENT);
    // Without a newer model in the base, the fit is published as usual.
    const fresh = replica([v1, v1], v1);
    expect(await fresh.maintainer.refitIfDue()).toBe(true);
    const model = decodeRankingModel(fresh.published[0]![RANKING_MODEL_ATTACHMENT]!);
    expect(model.stats.snapshotVersion).toBe(1);
  });
});
