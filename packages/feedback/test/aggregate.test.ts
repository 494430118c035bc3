import {
  CO_ENGAGEMENT_ATTACHMENT,
  CoEngagementAggregator,
  decodeFeedbackAttachment,
  readFeedback,
  CoEngagementTable,
  FeedbackFormatError,
  aggregateEvents,
  decodeCoEngagement,
  encodeCoEngagement,
  type ShopperEvent,
  type ShopperEventType,
} from '@lookalike/feedback';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
let eventCounter = 0;

function ev(
  sessionId: string,
  type: ShopperEventType,
  source: string,
  itemId: string,
  position: number,
  timestamp = T0,
): ShopperEvent {
  return {
    eventId: `e${eventCounter++}`,
    type,
    itemId,
    context: { sourceItemId: source },
    position,
    timestamp,
    sessionId,
  };
}

/** A page of `shown` on `source` (impressions at 0..n-1), then the given engagements. */
function page(
  sessionId: string,
  source: string,
  shown: string[],
  engaged: Array<[string, ShopperEventType]>,
  timestamp = T0,
): ShopperEvent[] {
  return [
    ...shown.map((id, p) => ev(sessionId, 'impression', source, id, p, timestamp)),
    ...engaged.map(([id, type]) => ev(sessionId, type, source, id, shown.indexOf(id), timestamp)),
  ];
}

const SHOWN = ['b0', 'b1', 'b2', 'b3', 'b4'];

/**
 * Ordinary traffic elsewhere in the catalogue: 60 sessions on another item, a click at a rotating
 * position every third session. The position curve (what a place is expected to earn) comes from all
 * events, so a test's few items are judged against the catalogue, not only against each other.
 */
function background(): ShopperEvent[] {
  const shown = SHOWN.map((id) => `bg-${id}`);
  return Array.from({ length: 60 }, (_, s) =>
    page(`bg${s}`, 'bg', shown, s % 3 === 0 ? [[shown[s % 5] as string, 'click']] : []),
  ).flat();
}

describe('co-engagement aggregation', () => {
  test('an item clicked more than its position predicts gets a positive score, one ignored a negative one', () => {
    const events: ShopperEvent[] = [];
    for (let s = 0; s < 40; s++) {
      // b3 is clicked in most sessions; the others at the top only now and then.
      const engaged: Array<[string, ShopperEventType]> = [['b3', 'click']];
      if (s % 4 === 0) engaged.push(['b0', 'click']);
      events.push(...page(`s${s}`, 'a', SHOWN, engaged));
    }
    const table = aggregateEvents([...background(), ...events], { minSessions: 3 });
    expect(table.pairScore('a', 'b3')).toBeGreaterThan(0.5);
    expect(table.pairScore('a', 'b1')).toBeLessThan(0);
    // b3 beats b0 though b0 was shown higher.
    expect(table.pairScore('a', 'b3')).toBeGreaterThan(table.pairScore('a', 'b0'));
    expect(table.pairScore('a', 'unknown')).toBe(0);
    expect(table.itemScore('b3')).toBeGreaterThan(0);
  });

  test('purchase > add to cart > click, and a session counts once per pair with its strongest engagement', () => {
    const events: ShopperEvent[] = [];
    for (let s = 0; s < 10; s++) {
      events.push(
        ...page(`s${s}`, 'a', SHOWN, [
          ['b1', 'click'],
          ['b2', 'click'],
          ['b2', 'add_to_cart'],
          ['b3', 'click'],
          ['b3', 'purchase'],
        ]),
      );
      // A bot clicking b4 twenty times in one session weighs one click.
      for (let i = 0; i < 20; i++) events.push(ev(`s${s}`, 'click', 'a', 'b4', 4));
      events.push(ev(`s${s}`, 'click', 'a', 'b4', 4));
    }
    const table = aggregateEvents([...background(), ...events]);
    const [b1, b2, b3, b4] = ['b1', 'b2', 'b3', 'b4'].map((id) => table.pairScore('a', id)) as number[];
    expect(b2).toBeGreaterThan(b1 as number);
    expect(b3).toBeGreaterThan(b2 as number);
    // b4 (bottom, one click per session) and b1 (one click per session) carry the same engagement.
    const agg = new CoEngagementAggregator();
    expect(agg.options.weights.click).toBeLessThan(agg.options.weights.add_to_cart);
    expect(b4).toBeLessThan(b3 as number);
  });

  test('minimum support: a pair needs that many distinct sessions', () => {
    const two = [
      ...page('s1', 'a', SHOWN, [['b2', 'purchase']]),
      ...page('s2', 'a', SHOWN, [['b2', 'purchase']]),
    ];
    expect(aggregateEvents([...background(), ...two], { minSessions: 3 }).pairScore('a', 'b2')).toBe(0);
    expect(
      aggregateEvents([...background(), ...two], { minSessions: 2 }).pairScore('a', 'b2'),
    ).toBeGreaterThan(0);
    // One session repeating itself is still one session.
    const one = Array.from({ length: 5 }, () => page('s1', 'a', SHOWN, [['b2', 'purchase']])).flat();
    expect(aggregateEvents([...background(), ...one], { minSessions: 2 }).pairScore('a', 'b2')).toBe(0);
  });

  test('time decay: old sessions fade with the half-life', () => {
    const sessions = (t: number, tag: string) =>
      Array.from({ length: 10 }, (_, s) => page(`${tag}${s}`, 'a', SHOWN, [['b4', 'purchase']], t)).flat();
    const now = T0 + 120 * DAY;
    const fresh = aggregateEvents(sessions(now, 'f'), { halfLifeDays: 30 }, { now });
    const old = aggregateEvents(sessions(T0, 'o'), { halfLifeDays: 30 }, { now });
    expect(fresh.pairScore('a', 'b4')).toBeGreaterThan(old.pairScore('a', 'b4'));
    expect(old.pairScore('a', 'b4')).toBeGreaterThan(0);
    // 4 half-lives: the evidence weighs 1/16; with the prior m it is close to, but above, 0.
    const longHalfLife = aggregateEvents(sessions(T0, 'o'), { halfLifeDays: 10_000 }, { now });
    expect(longHalfLife.pairScore('a', 'b4')).toBeCloseTo(fresh.pairScore('a', 'b4'), 2);
    // Order of arrival does not matter: old and new sessions fed either way give one table.
    const mixed = [...sessions(T0, 'o'), ...sessions(now, 'f')];
    const forward = aggregateEvents(mixed, {}, { now });
    const backward = aggregateEvents([...mixed].reverse(), {}, { now });
    expect(backward.pairScore('a', 'b4')).toBeCloseTo(forward.pairScore('a', 'b4'), 5);
  });

  test('deleted items are dropped as sources and as targets', () => {
    const events = Array.from({ length: 5 }, (_, s) =>
      page(`s${s}`, 'a', SHOWN, [
        ['b1', 'click'],
        ['b2', 'click'],
      ]),
    ).flat();
    events.push(
      ...Array.from({ length: 5 }, (_, s) => page(`t${s}`, 'gone', SHOWN, [['b1', 'click']])).flat(),
    );
    const live = new Set(['a', 'b0', 'b1', 'b3', 'b4']);
    const table = aggregateEvents(
      [...background(), ...events],
      {},
      { isLive: (id) => live.has(id) || id.startsWith('bg') },
    );
    expect(table.pairScore('a', 'b1')).toBeGreaterThan(0);
    expect(table.pairScore('a', 'b2')).toBe(0);
    expect(table.neighbours('a').map((e) => e.id)).not.toContain('b2');
    expect(table.neighbours('gone')).toEqual([]);
    expect(table.itemScore('b2')).toBe(0);
  });

  test('bounded: top-M per source in the table, pair and source caps while aggregating', () => {
    const shown = Array.from({ length: 60 }, (_, i) => `b${i}`);
    const events: ShopperEvent[] = [];
    for (let s = 0; s < 6; s++)
      events.push(
        ...page(
          `s${s}`,
          'a',
          shown,
          shown.slice(0, 40).map((id) => [id, 'click'] as [string, ShopperEventType]),
        ),
      );
    const agg = new CoEngagementAggregator({ topM: 8, maxPairsPerSource: 16, maxSources: 3 });
    const bySession = new Map<string, ShopperEvent[]>();
    for (const e of events) bySession.set(e.sessionId, [...(bySession.get(e.sessionId) ?? []), e]);
    for (const list of bySession.values()) agg.addSession(list);
    for (let s = 0; s < 10; s++)
      agg.addSession(page(`x${s}`, `src${s}`, SHOWN, [['b1', 'click']], T0 + s * DAY));
    const table = agg.build();
    expect(table.neighbours('a').length).toBeLessThanOrEqual(8);
    expect(agg.stats.evictedPairs).toBeGreaterThan(0);
    expect(agg.stats.evictedSources).toBeGreaterThan(0);
    // Sorted by |score|, strongest first.
    const scores = table.neighbours('a').map((e) => Math.abs(e.score));
    expect([...scores].sort((x, y) => y - x)).toEqual(scores);
  });

  test('events of an upload query count only when its source is resolved', () => {
    const events = Array.from({ length: 4 }, (_, s) =>
      page(`s${s}`, 'a', SHOWN, [['b2', 'purchase']]).map((e) => ({ ...e, context: { queryId: `q${s}` } })),
    ).flat();
    const agg = new CoEngagementAggregator({ minSessions: 2 });
    agg.addSession(background());
    for (let s = 0; s < 4; s++) agg.addSession(events.filter((e) => e.sessionId === `s${s}`));
    expect(agg.stats.ignored).toBe(events.length);
    expect(agg.build().neighbours('a')).toEqual([]);
    const resolved = new CoEngagementAggregator({ minSessions: 2 }, () => 'a');
    resolved.addSession(background());
    for (let s = 0; s < 4; s++) resolved.addSession(events.filter((e) => e.sessionId === `s${s}`));
    expect(resolved.build().pairScore('a', 'b2')).toBeGreaterThan(0);
  });
});

describe('co-engagement codec', () => {
  const events = [
    ...Array.from({ length: 6 }, (_, s) => page(`s${s}`, 'a', SHOWN, [['b3', 'purchase']])).flat(),
    ...Array.from({ length: 6 }, (_, s) => page(`t${s}`, 'é-ünïcode', SHOWN, [['b1', 'click']])).flat(),
  ];
  const table = aggregateEvents(events);

  test('round trip', () => {
    const decoded = decodeCoEngagement(encodeCoEngagement(table));
    expect(decoded.builtAt).toBe(table.builtAt);
    expect([...decoded.sources.keys()]).toEqual([...table.sources.keys()]);
    for (const [source, entries] of table.sources) expect(decoded.neighbours(source)).toEqual(entries);
    expect([...decoded.items]).toEqual([...table.items]);
    expect(decoded.pairScore('é-ünïcode', 'b1')).toBe(table.pairScore('é-ünïcode', 'b1'));
    const empty = decodeCoEngagement(encodeCoEngagement(CoEngagementTable.empty()));
    expect(empty.isEmpty).toBe(true);
    // The blend fitted with the table travels with it; a snapshot without the attachment is visual only.
    const blend = { weights: { pair: 0.2, item: 0.05 }, floor: 0.8562 };
    const bytes = encodeCoEngagement(table, blend);
    expect(decodeFeedbackAttachment(bytes).blend).toEqual(blend);
    const settings = { slotFields: ['articleType', 'baseColour'], candidates: 40 };
    const withSettings = decodeFeedbackAttachment(encodeCoEngagement(table, blend, settings));
    expect(withSettings.settings).toEqual(settings);
    expect(withSettings.table.pairCount).toBe(table.pairCount);
    expect(() => encodeCoEngagement(table, blend, { slotFields: [], candidates: 0 })).toThrow(
      FeedbackFormatError,
    );
    const snapshot = {
      attachment: (name: string) => (name === CO_ENGAGEMENT_ATTACHMENT ? bytes : undefined),
    };
    expect(readFeedback(snapshot).blend).toEqual(blend);
    expect(readFeedback(snapshot)).toBe(readFeedback(snapshot));
    expect(readFeedback({ attachment: () => undefined }).blend.weights).toEqual({ pair: 0, item: 0 });
    expect(readFeedback(null).table.isEmpty).toBe(true);
  });

  test('corruption, truncation, another format and a newer version are refused', () => {
    const bytes = encodeCoEngagement(table);
    const flipped = Uint8Array.from(bytes);
    flipped[40] = (flipped[40] as number) ^ 0x01;
    expect(() => decodeCoEngagement(flipped)).toThrow(FeedbackFormatError);
    expect(() => decodeCoEngagement(bytes.subarray(0, bytes.length - 3))).toThrow(FeedbackFormatError);
    expect(() => decodeCoEngagement(Buffer.from('LKRM not this at all, not this at all'))).toThrow(
      /not a co-engagement/,
    );
    const newer = Uint8Array.from(bytes);
    newer[4] = 3;
    expect(() => decodeCoEngagement(newer)).toThrow(/version 3/);
  });
});
