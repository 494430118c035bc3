import { seededRandom } from '@lookalike/ranking';
import { feedbackTables, runFeedbackExperiment, sessionPrefix } from '../src/evaluation/feedback-experiment';
import { ShopperWorld, brandOf, type ShopCandidate, type ShopItem } from '../src/evaluation/shoppers';

/**
 * A small catalogue with generated vectors: each item's vector is its articleType's direction plus
 * its colour's plus noise, so the visual search finds the type and colour; brand, usage and season
 * (the shoppers' hidden tastes) are not in the vectors at all.
 */
function catalogue(n: number, seed: number) {
  const random = seededRandom(seed);
  const d = 32;
  const types = ['Tshirts', 'Shirts', 'Jeans', 'Watches', 'Shoes', 'Bags'];
  const colours = ['Black', 'Blue', 'White', 'Red'];
  const brands = ['Nike', 'Puma', 'Adidas', 'Lee', 'Fila', 'Arrow', 'Titan', 'Baggit'];
  const usages = ['Casual', 'Sports', 'Formal'];
  const seasons = ['Summer', 'Fall', 'Winter', 'Spring'];
  const direction = (i: number) =>
    Float32Array.from({ length: d }, (_, j) => Math.sin((i + 1) * (j + 1) * 1.7));
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)] as T;
  const items: Array<ShopItem & { vector: Float32Array }> = [];
  for (let i = 0; i < n; i++) {
    const t = Math.floor(random() * types.length);
    const c = Math.floor(random() * colours.length);
    const v = direction(t).map((x, j) => x + 0.5 * (direction(10 + c)[j] as number) + 0.6 * (random() - 0.5));
    const norm = Math.hypot(...v);
    items.push({
      id: `i${i}`,
      vector: v.map((x) => x / norm),
      metadata: {
        articleType: types[t] as string,
        baseColour: colours[c] as string,
        subCategory: t < 3 ? 'Apparel' : 'Accessories',
        productDisplayName: `${pick(brands)} Men ${types[t]}`,
        usage: pick(usages),
        season: pick(seasons),
      },
    });
  }
  const visual = new Map<string, ShopCandidate[]>();
  for (const a of items) {
    const hits = items
      .filter((b) => b.id !== a.id)
      .map((b) => {
        let s = 0;
        for (let j = 0; j < d; j++) s += (a.vector[j] as number) * (b.vector[j] as number);
        return { id: b.id, similarity: s, score: s, metadata: b.metadata };
      })
      .sort((x, y) => y.score - x.score)
      .slice(0, 40);
    visual.set(a.id, hits);
  }
  return { items, visual };
}

describe('shopper simulator and feedback experiment (generated catalogue)', () => {
  const { items, visual } = catalogue(300, 7);

  test('the simulator logs contract-shaped events of whole sessions, deterministically', () => {
    const world = new ShopperWorld(items, 1);
    const a = world.simulate((id) => visual.get(id), 3000, 1);
    const b = new ShopperWorld(items, 1).simulate((id) => visual.get(id), 3000, 1);
    expect(a.events).toEqual(b.events);
    expect(a.events.length).toBeGreaterThanOrEqual(3000);
    const types = new Set(a.events.map((e) => e.type));
    expect([...types].sort()).toEqual(['add_to_cart', 'click', 'impression', 'purchase']);
    for (const e of a.events.slice(0, 200)) {
      expect('sourceItemId' in e.context).toBe(true);
      expect(e.position).toBeGreaterThanOrEqual(0);
      expect(e.position).toBeLessThan(10);
    }
    // Clicks fall with position (examination bias).
    const clicksAt = (p: number) => a.events.filter((e) => e.type === 'click' && e.position === p).length;
    expect(clicksAt(0)).toBeGreaterThan(clicksAt(9));
    const prefix = sessionPrefix(a.events, 1000);
    expect(prefix.length).toBeLessThanOrEqual(1000);
    expect(a.events[prefix.length]?.sessionId).not.toBe(prefix.at(-1)?.sessionId);
    expect(brandOf(items[0] as ShopItem)).toBe(
      String(items[0]?.metadata.productDisplayName).split(' ')[0]?.toLowerCase(),
    );
  });

  test('the hybrid, fitted from events only, beats visual on held-out shoppers; labels hold', () => {
    const report = runFeedbackExperiment(items, visual, {
      seeds: [1, 2],
      eventCounts: [0, 30_000],
      heldOutSessions: 600,
      k: 10,
      floorQuantile: 0.05,
      slotFields: ['articleType', 'subCategory', 'baseColour'],
    });
    const none = report.points.filter((p) => p.target === 0);
    const many = report.points.filter((p) => p.target === 30_000);
    for (const p of none) {
      // Zero events: nothing learned, the hybrid is the visual ranking.
      expect(p.weights).toEqual({ pair: 0, item: 0 });
      expect(p.ndcg.hybrid).toBe(p.ndcg.visual);
      expect(p.changed).toBe(0);
    }
    for (const p of many) {
      expect(p.weights.pair + p.weights.item).toBeGreaterThan(0);
      expect(p.ndcg.hybrid).toBeGreaterThan(p.ndcg.visual + 0.01);
      expect(p.ctr5.hybrid).toBeGreaterThan(p.ctr5.visual);
      expect(
        Math.abs((p.labelP5.articleType?.hybrid ?? 0) - (p.labelP5.articleType?.visual ?? 0)),
      ).toBeLessThan(0.05);
    }
    expect(feedbackTables(report)).toContain('| 30,000 |');
  });
});
