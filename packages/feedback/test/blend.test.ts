import {
  CoEngagementAggregator,
  CoEngagementTable,
  examinationByPosition,
  aggregateEvents,
  blendRanking,
  fitBlendWeights,
  ndcgAt,
  similarityFloor,
  type BlendCandidate,
  type ShopperEvent,
} from '@lookalike/feedback';

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

/** 20 visual candidates per source, scores falling with rank; a learned-ranking score a bit above similarity. */
function candidatesFor(source: string, n = 20): BlendCandidate[] {
  return Array.from({ length: n }, (_, r) => ({
    id: `${source}-c${r}`,
    similarity: 0.9 - r * 0.01,
    score: 0.9 - r * 0.01 + (r % 3 === 0 ? 0.002 : 0),
  }));
}

/**
 * Synthetic shoppers with a planted pair signal: on each source page three of the first ten are
 * liked (clicked with probability 0.6 when examined, the rest 0.08), examination 1/(1+rank)^0.7.
 */
function plantedEvents(seed: number, sessions: number, sources: number, planted = true) {
  const random = rng(seed);
  const liked = new Map<string, Set<string>>();
  for (let s = 0; s < sources; s++) {
    const set = new Set<string>();
    while (set.size < 3) set.add(`src${s}-c${Math.floor(random() * 10)}`);
    liked.set(`src${s}`, set);
  }
  const events: ShopperEvent[] = [];
  let id = 0;
  for (let s = 0; s < sessions; s++) {
    const source = `src${Math.floor(random() * sources)}`;
    const shown = candidatesFor(source).slice(0, 10);
    const t = Date.UTC(2026, 0, 1) + s * 60_000;
    shown.forEach((c, p) => {
      events.push({
        eventId: `e${id++}`,
        type: 'impression',
        itemId: c.id,
        context: { sourceItemId: source },
        position: p,
        timestamp: t,
        sessionId: `s${s}`,
      });
      const attractive = planted ? (liked.get(source)?.has(c.id) ? 0.6 : 0.08) : 0.2;
      if (random() < Math.pow(1 + p, -0.7) * attractive)
        events.push({
          eventId: `e${id++}`,
          type: 'click',
          itemId: c.id,
          context: { sourceItemId: source },
          position: p,
          timestamp: t + 1000,
          sessionId: `s${s}`,
        });
    });
  }
  return { events, liked };
}

describe('hybrid blend', () => {
  test('zero events: the output is the input ranking, identical', () => {
    const input = candidatesFor('a');
    const out = blendRanking('a', input, CoEngagementTable.empty(), {
      weights: { pair: 0.5, item: 0.5 },
      floor: 0,
    });
    expect(out.map((c) => c.id)).toEqual(input.map((c) => c.id));
    expect(out.map((c) => c.score)).toEqual(input.map((c) => c.score));
    expect(out.map((c) => c.similarity)).toEqual(input.map((c) => c.similarity));
    expect(out.every((c) => !c.signals.includes('feedback'))).toBe(true);
    // Events about other sources, and zero weights, change nothing either.
    const { events } = plantedEvents(1, 400, 20);
    const table = aggregateEvents(events);
    const otherSource = blendRanking('a', input, table, { weights: { pair: 0.5, item: 0 }, floor: 0 });
    expect(otherSource.map((c) => [c.id, c.score])).toEqual(input.map((c) => [c.id, c.score]));
    const src = candidatesFor('src1');
    const zeroWeights = blendRanking('src1', src, table, { weights: { pair: 0, item: 0 }, floor: 0 });
    expect(zeroWeights.map((c) => [c.id, c.score])).toEqual(src.map((c) => [c.id, c.score]));
  });

  test('signals say what ordered each result; only visual candidates come out', () => {
    const { events, liked } = plantedEvents(2, 3000, 20);
    const table = aggregateEvents(events);
    const input = candidatesFor('src0');
    const out = blendRanking('src0', input, table, { weights: { pair: 0.5, item: 0 }, floor: 0 });
    expect(new Set(out.map((c) => c.id))).toEqual(new Set(input.map((c) => c.id)));
    const top3 = new Set(out.slice(0, 3).map((c) => c.id));
    expect(top3).toEqual(liked.get('src0'));
    expect(out[0]?.signals).toContain('feedback');
    expect(out.find((c) => c.id === 'src0-c0')?.signals).toContain('labels');
    expect(out.find((c) => c.id === 'src0-c1')?.signals.includes('labels')).toBe(false);
  });

  test('the floor: no item below it is promoted, however strong its feedback', () => {
    const { events, liked } = plantedEvents(3, 3000, 20);
    const table = aggregateEvents(events);
    const input = candidatesFor('src0');
    const floor = 0.87; // c0..c3 are at or above it (0.90 … 0.87), c4 onwards below
    const out = blendRanking('src0', input, table, { weights: { pair: 1, item: 1 }, floor });
    const inputRank = new Map(input.map((c, r) => [c.id, r]));
    const outRank = new Map(out.map((c, r) => [c.id, r]));
    const below = out.filter((c) => c.similarity < floor);
    expect(below.some((c) => liked.get('src0')?.has(c.id))).toBe(true);
    for (const c of below) {
      expect(c.feedback).toBeLessThanOrEqual(0);
      // It never passes an item that was above it and was not itself demoted.
      for (const a of out)
        if ((inputRank.get(a.id) as number) < (inputRank.get(c.id) as number) && a.feedback >= 0)
          expect(outRank.get(c.id) as number).toBeGreaterThan(outRank.get(a.id) as number);
    }
    // Without the floor the same liked items do climb (the floor is what holds them).
    const free = blendRanking('src0', input, table, { weights: { pair: 1, item: 1 }, floor: -Infinity });
    const climbed = below.filter(
      (c) =>
        liked.get('src0')?.has(c.id) &&
        free.findIndex((f) => f.id === c.id) < (inputRank.get(c.id) as number),
    );
    expect(climbed.length).toBeGreaterThan(0);
  });

  test('label slots: each position keeps its group; feedback re-orders within groups only', () => {
    const { events } = plantedEvents(2, 3000, 20);
    const table = aggregateEvents(events);
    const input = candidatesFor('src0');
    // Odd ranks "agree with the query's labels", even ranks do not.
    const group = (c: BlendCandidate) => String(Number(c.id.slice(6)) % 2);
    const free = blendRanking('src0', input, table, { weights: { pair: 0.5, item: 0 }, floor: 0 });
    const slotted = blendRanking('src0', input, table, { weights: { pair: 0.5, item: 0 }, floor: 0 }, group);
    expect(slotted.map(group)).toEqual(input.map(group));
    expect(free.map(group)).not.toEqual(input.map(group));
    expect(slotted.map((c) => c.id)).not.toEqual(input.map((c) => c.id));
    expect(new Set(slotted.map((c) => c.id))).toEqual(new Set(input.map((c) => c.id)));
    // Within a group, the blended score orders.
    for (const g of ['0', '1']) {
      const scores = slotted.filter((c) => group(c) === g).map((c) => c.score);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    }
  });

  test('similarityFloor is the quantile of the k-th neighbour similarities', () => {
    const values = Array.from({ length: 101 }, (_, i) => i / 100);
    expect(similarityFloor(values, 0.05)).toBeCloseTo(0.05);
    expect(similarityFloor(values, 0)).toBe(0);
    expect(similarityFloor([], 0.05)).toBe(-Infinity);
  });

  test('ndcg', () => {
    expect(ndcgAt([3, 2, 1, 0], 10)).toBe(1);
    expect(ndcgAt([0, 0, 0], 10)).toBe(0);
    expect(ndcgAt([0, 1], 10)).toBeCloseTo(1 / Math.log2(3));
  });
});

describe('weight fit on held-out sessions', () => {
  test('recovers a planted pair signal', () => {
    const { events } = plantedEvents(4, 6000, 40);
    const fit = fitBlendWeights(events, (source) => candidatesFor(source));
    expect(fit.judgedPages).toBeGreaterThan(200);
    expect(fit.weights.pair).toBeGreaterThan(0);
    expect(fit.ndcgFitted).toBeGreaterThan(fit.ndcgVisual + 0.05);
    expect(fit.trainSessions + fit.validationSessions).toBe(6000);
    expect(fit.validationSessions / 6000).toBeGreaterThan(0.15);
    expect(fit.validationSessions / 6000).toBeLessThan(0.25);
  });

  test('no signal, no weights: clicks that ignore the items leave the ranking visual', () => {
    const { events } = plantedEvents(5, 6000, 40, false);
    const fit = fitBlendWeights(events, (source) => candidatesFor(source));
    expect(fit.weights).toEqual({ pair: 0, item: 0 });
    expect(fit.ndcgFitted).toBe(fit.ndcgVisual);
  });

  test('too few judged pages: weights stay 0', () => {
    const { events } = plantedEvents(6, 50, 40);
    expect(fitBlendWeights(events, (source) => candidatesFor(source)).weights).toEqual({ pair: 0, item: 0 });
  });
});

describe('position-based click model', () => {
  test('examination by position is told apart from item appeal (θ(p) = (1+p)^-0.7 planted)', () => {
    const random = rng(9);
    const appeal = Array.from({ length: 60 }, () => 0.1 + 0.8 * random());
    const events: ShopperEvent[] = [];
    let id = 0;
    for (let s = 0; s < 4000; s++) {
      // Each page shows 10 of the items; appealing items tend to be shown higher (as a ranking would),
      // which is what makes the raw click rate per position overstate the examination.
      const shown = [...appeal.keys()]
        .map((i) => ({ i, key: (appeal[i] as number) + random() }))
        .sort((a, b) => b.key - a.key)
        .slice(0, 10);
      shown.forEach(({ i }, p) => {
        const base = {
          context: { sourceItemId: `src${s % 50}` },
          position: p,
          timestamp: 0,
          sessionId: `s${s}`,
        };
        events.push({ ...base, eventId: `e${id++}`, type: 'impression', itemId: `i${i}` });
        if (random() < Math.pow(1 + p, -0.7) * (appeal[i] as number))
          events.push({ ...base, eventId: `e${id++}`, type: 'click', itemId: `i${i}` });
      });
    }
    const theta = examinationByPosition(events);
    for (let p = 0; p < 10; p++)
      expect(Math.abs((theta[p] as number) - Math.pow(1 + p, -0.7))).toBeLessThan(0.06);
    // The aggregator's exposure curve (bucketed) follows the same shape.
    const aggregator = new CoEngagementAggregator();
    const bySession = new Map<string, ShopperEvent[]>();
    for (const e of events) bySession.set(e.sessionId, [...(bySession.get(e.sessionId) ?? []), e]);
    for (const list of bySession.values()) aggregator.addSession(list);
    const curve = aggregator.positionCurve();
    expect((curve[1] as number) / (curve[0] as number)).toBeCloseTo(Math.pow(2, -0.7), 1);
    expect((curve[2] as number) / (curve[0] as number)).toBeCloseTo(Math.pow(3, -0.7), 1);
  });
});
