import { aggregateEvents, DEFAULT_CO_ENGAGEMENT_OPTIONS, type CoEngagementOptions } from './aggregate';
import { blendRanking, VISUAL_ONLY, type BlendCandidate, type BlendWeights } from './blend';
import { fnv1a, timeOf, type ShopperEvent } from './events';

/**
 * Fits the blend weights from the events alone, on sessions held out from the aggregation:
 *
 * 1. Sessions are split by a hash of their id (deterministic): `validationShare` held out.
 * 2. The co-engagement table is aggregated from the other sessions only.
 * 3. Each held-out page (a session's view of one source item's results) is a judged query: the items
 *    it showed (its impressions), graded by the session's strongest engagement with each (the type
 *    weights: click 1, add to cart 3, purchase 6; 0 = shown, ignored).
 * 4. Every weight pair of the grid re-ranks each page's shown items (their visual candidates, in
 *    the served order, restricted to what was shown: an item never shown has no outcome to judge
 *    it by) and is scored by the mean NDCG@k; the best wins, smaller weights on ties.
 * 5. Weights other than zero are kept only when they beat the visual order by `minImprovement`,
 *    so noise alone leaves the ranking visual.
 */

export interface FitOptions {
  aggregation: Partial<CoEngagementOptions>;
  /** Share of sessions held out to judge the weights. */
  validationShare: number;
  /** Candidate values of each weight. */
  grid: readonly number[];
  /** The visual plausibility floor the blend will run with. */
  floor: number;
  /** NDCG cut-off. */
  k: number;
  /** Fewer judged pages than this: the weights stay 0. */
  minQueries: number;
  /** NDCG gain over the visual order a non-zero fit must show. */
  minImprovement: number;
}

export const DEFAULT_FIT_OPTIONS: FitOptions = {
  aggregation: {},
  validationShare: 0.2,
  grid: [0, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
  floor: -Infinity,
  k: 10,
  minQueries: 30,
  minImprovement: 0.002,
};

export interface WeightFit {
  weights: BlendWeights;
  trainSessions: number;
  validationSessions: number;
  /** Held-out pages with at least one engagement among their visual candidates. */
  judgedPages: number;
  ndcgVisual: number;
  ndcgFitted: number;
  grid: Array<{ weights: BlendWeights; ndcg: number }>;
}

/** NDCG@k of graded gains listed in ranked order (ideal: the same gains sorted). */
export function ndcgAt(gains: readonly number[], k: number, ideal: readonly number[] = gains): number {
  const dcg = (g: readonly number[]) => {
    let s = 0;
    for (let i = 0; i < k && i < g.length; i++) s += (g[i] as number) / Math.log2(i + 2);
    return s;
  };
  const best = dcg([...ideal].sort((a, b) => b - a));
  return best > 0 ? dcg(gains) / best : 0;
}

export function isValidationSession(sessionId: string, share: number): boolean {
  return fnv1a(sessionId) % 10_000 < share * 10_000;
}

interface JudgedPage {
  source: string;
  gains: Map<string, number>;
  shown: Set<string>;
}

export function fitBlendWeights(
  events: readonly ShopperEvent[],
  candidatesOf: (source: string) => readonly BlendCandidate[] | undefined,
  options: Partial<FitOptions> = {},
): WeightFit {
  const o = { ...DEFAULT_FIT_OPTIONS, ...options };
  const weights = { ...DEFAULT_CO_ENGAGEMENT_OPTIONS.weights, ...o.aggregation.weights };
  const train: ShopperEvent[] = [];
  const pages = new Map<string, JudgedPage>();
  const trainSessions = new Set<string>();
  const validationSessions = new Set<string>();
  let newest = 0;
  for (const event of events) {
    newest = Math.max(newest, timeOf(event) || 0);
    if (!isValidationSession(event.sessionId, o.validationShare)) {
      train.push(event);
      trainSessions.add(event.sessionId);
      continue;
    }
    validationSessions.add(event.sessionId);
    if (!('sourceItemId' in event.context)) continue;
    const source = event.context.sourceItemId;
    const key = `${event.sessionId}\u0000${source}`;
    let page = pages.get(key);
    if (!page) pages.set(key, (page = { source, gains: new Map(), shown: new Set() }));
    page.shown.add(event.itemId);
    if (event.type !== 'impression')
      page.gains.set(event.itemId, Math.max(page.gains.get(event.itemId) ?? 0, weights[event.type] ?? 0));
  }
  const table = aggregateEvents(train, o.aggregation, { now: newest });
  const judged: Array<{ source: string; candidates: BlendCandidate[]; gains: Map<string, number> }> = [];
  for (const page of pages.values()) {
    const candidates = (candidatesOf(page.source) ?? []).filter((c) => page.shown.has(c.id));
    if (candidates.some((c) => (page.gains.get(c.id) ?? 0) > 0))
      judged.push({ source: page.source, candidates, gains: page.gains });
  }
  const score = (w: BlendWeights) => {
    if (judged.length === 0) return 0;
    let sum = 0;
    for (const q of judged) {
      const ranked = blendRanking(q.source, q.candidates, table, { weights: w, floor: o.floor });
      const gains = ranked.map((c) => q.gains.get(c.id) ?? 0);
      sum += ndcgAt(gains, o.k);
    }
    return sum / judged.length;
  };
  const ndcgVisual = score(VISUAL_ONLY);
  const grid: WeightFit['grid'] = [];
  for (const pair of o.grid) for (const item of o.grid) grid.push({ weights: { pair, item }, ndcg: 0 });
  grid.sort((a, b) => a.weights.pair + a.weights.item - (b.weights.pair + b.weights.item));
  let best = { weights: VISUAL_ONLY, ndcg: ndcgVisual };
  if (judged.length >= o.minQueries) {
    for (const g of grid) {
      g.ndcg = score(g.weights);
      if (g.ndcg > best.ndcg + 1e-12) best = g;
    }
    if (best.ndcg - ndcgVisual < o.minImprovement) best = { weights: VISUAL_ONLY, ndcg: ndcgVisual };
  }
  return {
    weights: best.weights,
    trainSessions: trainSessions.size,
    validationSessions: validationSessions.size,
    judgedPages: judged.length,
    ndcgVisual,
    ndcgFitted: best.ndcg,
    grid,
  };
}
