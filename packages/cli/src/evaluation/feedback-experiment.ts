import {
  aggregateEvents,
  blendRanking,
  fitBlendWeights,
  labelSlots,
  ndcgAt,
  similarityFloor,
  type BlendWeights,
  type CoEngagementOptions,
  type ShopperEvent,
} from '@lookalike/feedback';
import { precisionAt } from '@lookalike/ranking';
import { CRITERIA, keyOf } from './judging';
import { ShopperWorld, type ShopCandidate, type ShopItem, type ShopperOptions } from './shoppers';

/**
 * The feedback experiment on given visual results: per seed, a simulated world logs events while
 * shoppers browse the visual results; the hybrid fits its weights and aggregates from those events
 * only, and both rankings are judged on held-out shoppers the events never saw.
 */

export interface FeedbackExperimentOptions {
  seeds: number[];
  /** Learning-curve points: events logged before fitting (impressions included, as the contract counts them). */
  eventCounts: number[];
  heldOutSessions: number;
  /** Results judged / shown. */
  k: number;
  /** The floor: `floorQuantile` of the k-th visual neighbour's similarity over the catalogue. */
  floorQuantile: number;
  aggregation?: Partial<CoEngagementOptions>;
  shoppers?: Partial<ShopperOptions>;
  /**
   * Label slots (`blendRanking`'s `slots`): these metadata fields (the ranking's label fields and its
   * colour field); each position keeps whether its result agrees with the query item on each, and
   * feedback re-orders within those groups. Empty: the free blend.
   */
  slotFields: string[];
}

export const DEFAULT_FEEDBACK_EXPERIMENT: FeedbackExperimentOptions = {
  seeds: [1, 2, 3, 4, 5],
  eventCounts: [1_000, 5_000, 20_000, 50_000, 200_000],
  heldOutSessions: 3_000,
  k: 10,
  floorQuantile: 0.05,
  slotFields: ['articleType', 'subCategory', 'baseColour'],
};

export interface LabelPrecision {
  visual: number;
  hybrid: number;
}

export interface FeedbackPoint {
  seed: number;
  /** The learning-curve point (events asked for); `events` is what whole sessions gave. */
  target: number;
  events: number;
  sessions: number;
  weights: BlendWeights;
  fit: { judgedPages: number; ndcgVisual: number; ndcgFitted: number };
  /** Sources / pairs / items in the table built from all the point's events. */
  table: { sources: number; pairs: number; items: number };
  ndcg: { visual: number; hybrid: number };
  ctr5: { visual: number; hybrid: number };
  /** Label P@5 of every item's by-id results (criterion → visual / hybrid). */
  labelP5: Record<string, LabelPrecision>;
  /** Share of held-out first pages whose top k the hybrid changed. */
  changed: number;
}

export interface FeedbackExperimentReport {
  items: number;
  candidates: number;
  floor: number;
  /** Candidates (of all sources) below the floor. */
  belowFloor: number;
  options: FeedbackExperimentOptions;
  points: FeedbackPoint[];
}

/** The events of whole sessions, up to `n` events (a session that would cross `n` is left out). */
export function sessionPrefix(events: readonly ShopperEvent[], n: number): ShopperEvent[] {
  if (events.length <= n) return [...events];
  const cut = events.slice(0, n);
  const last = events[n]?.sessionId;
  while (cut.length > 0 && cut[cut.length - 1]?.sessionId === last) cut.pop();
  return cut;
}

export function runFeedbackExperiment(
  items: readonly ShopItem[],
  visual: ReadonlyMap<string, readonly ShopCandidate[]>,
  options: FeedbackExperimentOptions,
  log: (s: string) => void = () => {},
): FeedbackExperimentReport {
  const { k } = options;
  const candidatesOf = (source: string) => visual.get(source);
  const byId = new Map(items.map((item) => [item.id, item]));
  const slotsOf = (source: string) =>
    labelSlots<ShopCandidate>(byId.get(source)?.metadata, options.slotFields);
  const kth = [...visual.values()].map((list) => list[k - 1]?.similarity ?? NaN);
  const floor = similarityFloor(kth, options.floorQuantile);
  let belowFloor = 0;
  let candidates = 0;
  for (const list of visual.values()) {
    candidates += list.length;
    for (const c of list) if (c.similarity < floor) belowFloor++;
  }
  const points: FeedbackPoint[] = [];
  const maxEvents = Math.max(...options.eventCounts);
  for (const seed of options.seeds) {
    const world = new ShopperWorld(items, seed, options.shoppers);
    // The logging policy is the visual ranking (what is served today); the largest stream is drawn
    // once and each learning-curve point takes its first sessions.
    const logged = world.simulate(candidatesOf, maxEvents, 1);
    const heldOut = world.heldOut(options.heldOutSessions, 2);
    for (const n of options.eventCounts) {
      const events = sessionPrefix(logged.events, n);
      // The hybrid's whole view of the shoppers: these events (and the visual results).
      const fit = fitBlendWeights(events, candidatesOf, {
        aggregation: options.aggregation ?? {},
        floor,
        k,
        slotsOf,
      });
      const table = aggregateEvents(events, options.aggregation ?? {});
      const blend = { weights: fit.weights, floor };
      const judged = { ndcgVisual: 0, ndcgHybrid: 0, ctrVisual: 0, ctrHybrid: 0, changed: 0 };
      for (const { start, taste } of heldOut) {
        const list = visual.get(start.id) ?? [];
        const hybrid = blendRanking(start.id, list, table, blend, slotsOf(start.id));
        const gainOf = (c: ShopCandidate) => world.attractiveness(taste, start, world.item(c.id) as ShopItem);
        const ideal = list.map(gainOf);
        const ctr = (ranked: readonly ShopCandidate[]) => {
          let none = 1;
          ranked.slice(0, 5).forEach((c, p) => (none *= 1 - world.examination(p) * gainOf(c)));
          return 1 - none;
        };
        judged.ndcgVisual += ndcgAt(list.slice(0, k).map(gainOf), k, ideal);
        judged.ndcgHybrid += ndcgAt(hybrid.slice(0, k).map(gainOf), k, ideal);
        judged.ctrVisual += ctr(list);
        judged.ctrHybrid += ctr(hybrid);
        if (hybrid.slice(0, k).some((c, i) => c.id !== list[i]?.id)) judged.changed++;
      }
      const labelP5: Record<string, LabelPrecision> = {};
      for (const [name, fields] of Object.entries(CRITERIA)) {
        let visualSum = 0;
        let hybridSum = 0;
        let queries = 0;
        for (const item of items) {
          const label = keyOf(item.metadata, fields);
          const list = visual.get(item.id);
          if (label === null || !list) continue;
          const hybrid = blendRanking(item.id, list, table, blend, slotsOf(item.id));
          const relevant = (ranked: readonly ShopCandidate[]) =>
            ranked.slice(0, 5).map((c) => keyOf(c.metadata, fields) === label);
          visualSum += precisionAt(relevant(list), 5);
          hybridSum += precisionAt(relevant(hybrid), 5);
          queries++;
        }
        labelP5[name] = {
          visual: visualSum / Math.max(1, queries),
          hybrid: hybridSum / Math.max(1, queries),
        };
      }
      const h = heldOut.length || 1;
      const point: FeedbackPoint = {
        seed,
        target: n,
        events: events.length,
        sessions: new Set(events.map((e) => e.sessionId)).size,
        weights: fit.weights,
        fit: { judgedPages: fit.judgedPages, ndcgVisual: fit.ndcgVisual, ndcgFitted: fit.ndcgFitted },
        table: { sources: table.sources.size, pairs: table.pairCount, items: table.items.size },
        ndcg: { visual: judged.ndcgVisual / h, hybrid: judged.ndcgHybrid / h },
        ctr5: { visual: judged.ctrVisual / h, hybrid: judged.ctrHybrid / h },
        labelP5,
        changed: judged.changed / h,
      };
      points.push(point);
      log(
        `seed ${seed}, ${point.events} events (${point.sessions} sessions): weights pair ${fit.weights.pair} ` +
          `item ${fit.weights.item}; NDCG@${k} ${point.ndcg.visual.toFixed(4)} → ${point.ndcg.hybrid.toFixed(4)}, ` +
          `CTR@5 ${point.ctr5.visual.toFixed(4)} → ${point.ctr5.hybrid.toFixed(4)}`,
      );
    }
  }
  return {
    items: items.length,
    candidates: visual.values().next().value?.length ?? 0,
    floor,
    belowFloor: belowFloor / Math.max(1, candidates),
    options,
    points,
  };
}

/** mean ± sd over seeds of one quantity, per learning-curve point. */
export function spread(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}

/** The report's tables (Markdown): the learning curve with mean ± sd over seeds, and label P@5. */
export function feedbackTables(report: FeedbackExperimentReport): string {
  const byTarget = new Map<number, FeedbackPoint[]>();
  for (const n of report.options.eventCounts) byTarget.set(n, []);
  for (const p of report.points) byTarget.get(p.target)?.push(p);
  const f = (values: number[]) => {
    const s = spread(values);
    return `${s.mean.toFixed(4)} ± ${s.sd.toFixed(4)}`;
  };
  const lines = [
    `| events | NDCG@10 visual | NDCG@10 hybrid | Δ NDCG@10 | CTR@5 visual | CTR@5 hybrid | Δ CTR@5 | changed pages | w_pair / w_item (per seed) |`,
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const [n, points] of byTarget) {
    lines.push(
      `| ${n.toLocaleString('en-US')} | ${f(points.map((p) => p.ndcg.visual))} | ${f(points.map((p) => p.ndcg.hybrid))} | ` +
        `${f(points.map((p) => p.ndcg.hybrid - p.ndcg.visual))} | ${f(points.map((p) => p.ctr5.visual))} | ` +
        `${f(points.map((p) => p.ctr5.hybrid))} | ${f(points.map((p) => p.ctr5.hybrid - p.ctr5.visual))} | ` +
        `${f(points.map((p) => p.changed))} | ${points.map((p) => `${p.weights.pair}/${p.weights.item}`).join(', ')} |`,
    );
  }
  lines.push(
    '',
    '| events | criterion | label P@5 visual | label P@5 hybrid | Δ |',
    '| ---: | --- | ---: | ---: | ---: |',
  );
  for (const [n, points] of byTarget) {
    for (const name of Object.keys(CRITERIA)) {
      const v = points.map((p) => p.labelP5[name]?.visual ?? 0);
      const h = points.map((p) => p.labelP5[name]?.hybrid ?? 0);
      lines.push(
        `| ${n.toLocaleString('en-US')} | ${name} | ${f(v)} | ${f(h)} | ${f(h.map((x, i) => x - (v[i] as number)))} |`,
      );
    }
  }
  return lines.join('\n');
}
