import { aggregateEvents, DEFAULT_CO_ENGAGEMENT_OPTIONS, type CoEngagementOptions } from './aggregate';
import { blendRanking, VISUAL_ONLY, type BlendCandidate, type BlendWeights, type SlotGroup } from './blend';
import { fnv1a, timeOf, type ShopperEvent } from './events';

/**
 * Fits the blend weights from the events alone, on sessions held out from the aggregation:
 *
 * 1. Sessions are split by a hash of their id (deterministic): `validationShare` held out.
 * 2. The co-engagement table is aggregated from the other sessions only.
 * 3. Each held-out page (a session's view of one source item's results) is a judged query: the items
 *    it showed (its impressions), graded by the session's strongest engagement with each (the type
 *    weights: click 1, add to cart 3, purchase 6; 0 = shown, ignored), divided by the examination
 *    propensity of the position it was shown at (inverse propensity scoring). Without that, the
 *    logged clicks favour whatever order logged them (a result at position 9 is rarely clicked
 *    because it is rarely looked at), and every re-ranking looks worse than the visual one.
 *    The propensities come from the training sessions by the position-based click model,
 *    P(click) = θ(position) · γ(item), fitted by alternating updates (`examinationByPosition`):
 *    an item shown at several positions (on several items' pages) tells θ apart from its own appeal.
 * 4. Every weight pair of the grid re-ranks each page's shown items (their visual candidates, in
 *    the served order, restricted to what was shown: an item never shown has no outcome to judge
 *    it by) and is scored by the IPS-weighted NDCG@k over all pages: Σ DCG / Σ ideal DCG. (The
 *    ratio of sums, not the mean of per-page ratios: on a page with one click, per-page
 *    normalisation would cancel its propensity weight.) The smallest weights within one standard
 *    error of the best win (the one-standard-error rule).
 * 5. Weights other than zero are kept only when they beat the visual order by `minImprovement`,
 *    so noise alone leaves the ranking visual.
 */

export interface FitOptions<T extends BlendCandidate = BlendCandidate> {
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
  /** Label slots of a source's candidates, as the blend will be run (`blendRanking`'s `slots`). */
  slotsOf?: (source: string) => SlotGroup<T> | undefined;
}

export const DEFAULT_FIT_OPTIONS: FitOptions = {
  aggregation: {},
  validationShare: 0.2,
  grid: [0, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
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

/** DCG@k of graded gains listed in ranked order. */
export function dcgAt(gains: readonly number[], k: number): number {
  let s = 0;
  for (let i = 0; i < k && i < gains.length; i++) s += (gains[i] as number) / Math.log2(i + 2);
  return s;
}

/** NDCG@k of graded gains listed in ranked order (ideal: the best k of `ideal`, by default the same gains). */
export function ndcgAt(gains: readonly number[], k: number, ideal: readonly number[] = gains): number {
  const best = dcgAt(
    [...ideal].sort((a, b) => b - a),
    k,
  );
  return best > 0 ? dcgAt(gains, k) / best : 0;
}

/**
 * θ(p) of the position-based click model, relative to θ(0) = 1, from impressions and engagements:
 * alternately γ_i = clicks_i / Σ_p n_ip θ_p and θ_p = clicks_p / Σ_i n_ip γ_i. Clipped below at
 * `minPropensity` so one lucky click far down cannot dominate an inverse-propensity estimate.
 */
export function examinationByPosition(
  events: readonly ShopperEvent[],
  iterations = 50,
  minPropensity = 0.05,
): Float64Array {
  const impressions = new Map<string, Map<number, number>>();
  const clicksOfItem = new Map<string, number>();
  let maxPosition = 0;
  const engaged = new Set<string>();
  for (const e of events) {
    const p = Math.max(0, Math.floor(e.position));
    maxPosition = Math.max(maxPosition, p);
    if (e.type === 'impression') {
      let byPosition = impressions.get(e.itemId);
      if (!byPosition) impressions.set(e.itemId, (byPosition = new Map()));
      byPosition.set(p, (byPosition.get(p) ?? 0) + 1);
    } else {
      // One click per shown item per session and page, whatever followed it.
      const key = `${e.sessionId}\u0000${JSON.stringify(e.context)}\u0000${e.itemId}`;
      if (engaged.has(key)) continue;
      engaged.add(key);
      clicksOfItem.set(e.itemId, (clicksOfItem.get(e.itemId) ?? 0) + 1);
    }
  }
  const positions = maxPosition + 1;
  const clicksAt = new Float64Array(positions);
  for (const e of events) {
    if (e.type === 'impression') continue;
    const key = `${e.sessionId}\u0000${JSON.stringify(e.context)}\u0000${e.itemId}`;
    const p = Math.max(0, Math.floor(e.position));
    if (engaged.delete(key)) clicksAt[p] = (clicksAt[p] as number) + 1;
  }
  const theta = new Float64Array(positions).fill(1);
  const gamma = new Map<string, number>();
  for (let it = 0; it < iterations; it++) {
    for (const [item, byPosition] of impressions) {
      let exposure = 0;
      for (const [p, n] of byPosition) exposure += n * (theta[p] as number);
      gamma.set(item, exposure > 0 ? (clicksOfItem.get(item) ?? 0) / exposure : 0);
    }
    const expected = new Float64Array(positions);
    for (const [item, byPosition] of impressions) {
      const g = gamma.get(item) ?? 0;
      for (const [p, n] of byPosition) expected[p] = (expected[p] as number) + n * g;
    }
    for (let p = 0; p < positions; p++)
      theta[p] = (expected[p] as number) > 0 ? (clicksAt[p] as number) / (expected[p] as number) : 0;
    const top = theta[0] as number;
    if (!(top > 0)) return new Float64Array(positions).fill(1);
    for (let p = 0; p < positions; p++) theta[p] = (theta[p] as number) / top;
  }
  for (let p = 0; p < positions; p++) theta[p] = Math.min(1, Math.max(minPropensity, theta[p] as number));
  return theta;
}

export function isValidationSession(sessionId: string, share: number): boolean {
  return fnv1a(sessionId) % 10_000 < share * 10_000;
}

interface JudgedPage {
  source: string;
  /** Strongest engagement weight and the position it was shown at, per engaged item. */
  engaged: Map<string, { weight: number; position: number }>;
  shown: Set<string>;
}

export function fitBlendWeights<T extends BlendCandidate = BlendCandidate>(
  events: readonly ShopperEvent[],
  candidatesOf: (source: string) => readonly T[] | undefined,
  options: Partial<FitOptions<T>> = {},
): WeightFit {
  const o: FitOptions<T> = { ...(DEFAULT_FIT_OPTIONS as FitOptions<T>), ...options };
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
    if (!page) pages.set(key, (page = { source, engaged: new Map(), shown: new Set() }));
    page.shown.add(event.itemId);
    if (event.type !== 'impression') {
      const weight = Math.max(page.engaged.get(event.itemId)?.weight ?? 0, weights[event.type] ?? 0);
      page.engaged.set(event.itemId, { weight, position: event.position });
    }
  }
  const table = aggregateEvents(train, o.aggregation, { now: newest });
  const theta = examinationByPosition(train);
  const propensity = (p: number) => theta[Math.min(theta.length - 1, Math.max(0, Math.floor(p)))] ?? 1;
  const judged: Array<{ source: string; candidates: T[]; gains: Map<string, number> }> = [];
  for (const page of pages.values()) {
    const candidates = (candidatesOf(page.source) ?? []).filter((c) => page.shown.has(c.id));
    const gains = new Map<string, number>();
    for (const [id, { weight, position }] of page.engaged) gains.set(id, weight / propensity(position));
    if (candidates.some((c) => (gains.get(c.id) ?? 0) > 0))
      judged.push({ source: page.source, candidates, gains });
  }
  const idealTotal = judged.reduce(
    (sum, q) =>
      sum +
      dcgAt(
        [...q.gains.values()].sort((a, b) => b - a),
        o.k,
      ),
    0,
  );
  /** Each page's DCG under `w`, in units of the mean ideal DCG (their mean is the IPS-NDCG). */
  const perPage = (w: BlendWeights): Float64Array => {
    const out = new Float64Array(judged.length);
    if (idealTotal === 0) return out;
    const unit = idealTotal / judged.length;
    judged.forEach((q, i) => {
      const ranked = blendRanking(
        q.source,
        q.candidates,
        table,
        { weights: w, floor: o.floor },
        o.slotsOf?.(q.source),
      );
      out[i] =
        dcgAt(
          ranked.map((c) => q.gains.get(c.id) ?? 0),
          o.k,
        ) / unit;
    });
    return out;
  };
  const mean = (a: Float64Array) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0);
  const visualPages = perPage(VISUAL_ONLY);
  const ndcgVisual = mean(visualPages);
  const grid: WeightFit['grid'] = [];
  for (const pair of o.grid) for (const item of o.grid) grid.push({ weights: { pair, item }, ndcg: 0 });
  // Smallest weights first: the rule below picks the first within reach of the best.
  grid.sort((a, b) => a.weights.pair + a.weights.item - (b.weights.pair + b.weights.item));
  let best = { weights: VISUAL_ONLY, ndcg: ndcgVisual };
  if (judged.length >= o.minQueries) {
    const scored = grid.map((g) => {
      const pages = perPage(g.weights);
      g.ndcg = mean(pages);
      return { g, pages };
    });
    const top = scored.reduce((x, y) => (y.g.ndcg > x.g.ndcg + 1e-12 ? y : x));
    // One-standard-error rule: the smallest weights whose score is within one standard error (of the
    // per-page difference to the best) of the best. With few events the best of 81 weight pairs is
    // partly luck; the rule keeps the blend no stronger than the evidence supports.
    const within = scored.find(({ g, pages }) => {
      const diff = pages.map((v, i) => (top.pages[i] as number) - v);
      const m = mean(diff);
      const sd = Math.sqrt(diff.reduce((acc, d) => acc + (d - m) ** 2, 0) / Math.max(1, diff.length - 1));
      return top.g.ndcg - g.ndcg <= sd / Math.sqrt(diff.length);
    });
    const chosen = within?.g ?? top.g;
    if (chosen.ndcg - ndcgVisual >= o.minImprovement) best = chosen;
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
