import { timeOf, type EngagementType, type ShopperEvent } from './events';

/**
 * Co-engagement aggregation: for each source item A (the item a "more like this" page was opened
 * for) and each item B shown on it, how much more shoppers engaged with B than its positions
 * predicted.
 *
 *   E_AB = Σ_sessions decay(t) · w(strongest engagement of the session with B on A's page)
 *   X_AB = Σ_impressions decay(t) · c(position)      c(p) = mean engagement weight per impression at p
 *   lift_AB = (E_AB + m) / (X_AB + m)                  score_AB = ln(lift_AB)
 *
 * Why this shape:
 * - Weights per type (click < add_to_cart < purchase): a purchase says more than a click. A session
 *   counts once per pair, with its strongest engagement, so one shopper (or bot) clicking the same
 *   item twenty times weighs no more than one purchase.
 * - The exposure X is "clicks over expected clicks" (COEC): an impression at position p is expected
 *   to earn c(p), the catalogue-wide engagement per impression at that position, with the position's
 *   own examination separated from the appeal of the items usually shown there (`positionCurve`). Items shown at the top are clicked more whatever their merit; dividing by what their
 *   positions predict keeps the visual ranking's own position bias out of the learned signal.
 *   Impressions that earned nothing lower the lift below 1: shown often, ignored, demoted.
 * - m (pseudo-exposure, `priorExposure`) shrinks thin evidence to lift 1 (score 0, no effect): one
 *   click on one impression is not yet a preference.
 * - Exponential time decay with a half-life: tastes and catalogues drift; old sessions fade.
 * - Minimum support: a pair is published only when at least `minSessions` distinct sessions saw or
 *   engaged with it, so a single session cannot create a neighbour.
 * - Deleted items (not `isLive`) are dropped as sources and as targets when the table is built.
 * - Bounded memory: at most `maxPairsPerSource` pairs per source and `maxSources` sources while
 *   aggregating (the least supported / least recently active are evicted), and the top `topM` pairs
 *   per source (by |score|) in the built table.
 *
 * Besides pairs, the same quantities per target item B over all sources give B's item-level lift
 * (shoppers prefer B wherever it is shown), a second, denser signal for items whose pairs are thin.
 */

export type EngagementWeights = Record<EngagementType, number>;

export interface CoEngagementOptions {
  weights: EngagementWeights;
  /** Half-life of the exponential decay of every event's weight, in days. */
  halfLifeDays: number;
  /** Distinct sessions a pair (or an item's lift) needs before it is published. */
  minSessions: number;
  /** Pseudo-exposure m of the smoothed lift (in expected-engagement units). */
  priorExposure: number;
  /** Pairs per source in the built table (by |score|). */
  topM: number;
  /** Pairs per source kept while aggregating. */
  maxPairsPerSource: number;
  /** Sources kept while aggregating. */
  maxSources: number;
}

export const DEFAULT_CO_ENGAGEMENT_OPTIONS: CoEngagementOptions = {
  weights: { click: 1, add_to_cart: 3, purchase: 6 },
  halfLifeDays: 30,
  minSessions: 3,
  priorExposure: 2,
  topM: 32,
  maxPairsPerSource: 256,
  maxSources: 500_000,
};

/**
 * Positions are bucketed for the exposure model: the engagement expected at position p falls steeply
 * over the first places and is flat further down.
 */
const POSITION_BUCKETS = [0, 1, 2, 3, 5, 10, 20] as const;
const BUCKETS = POSITION_BUCKETS.length;

function bucketOf(position: number): number {
  let b = 0;
  while (b + 1 < BUCKETS && position >= (POSITION_BUCKETS[b + 1] as number)) b++;
  return b;
}

const DAY_MS = 86_400_000;

/** Decayed evidence about one (source, target) pair or one target item, referenced to `at`. */
interface Evidence {
  /** Time (ms) the decayed values below are valid at. */
  at: number;
  /** Σ decay · strongest engagement weight per session. */
  engagement: number;
  /** Σ decay · impressions, per position bucket. */
  impressions: Float64Array;
  /** Distinct sessions (not decayed). */
  sessions: number;
}

function newEvidence(at: number): Evidence {
  return { at, engagement: 0, impressions: new Float64Array(BUCKETS), sessions: 0 };
}

/** One session's contribution to one pair (or item). */
interface SessionContribution {
  at: number;
  engagement: number;
  impressions: Float64Array;
}

export interface CoEngagementEntry {
  id: string;
  /** ln(smoothed lift): > 0 engaged more than its positions predict, < 0 less. */
  score: number;
  /** Distinct sessions behind it. */
  sessions: number;
}

/**
 * The published result: per source its top-M co-engaged items, and per item its item-level lift.
 * Immutable; built by `CoEngagementAggregator.build` or decoded from a snapshot attachment.
 */
export class CoEngagementTable {
  private readonly index = new Map<string, Map<string, CoEngagementEntry>>();

  constructor(
    readonly sources: ReadonlyMap<string, readonly CoEngagementEntry[]>,
    readonly items: ReadonlyMap<string, CoEngagementEntry>,
    /** When the scores were decayed to (ms). */
    readonly builtAt: number,
  ) {
    for (const [source, entries] of sources) this.index.set(source, new Map(entries.map((e) => [e.id, e])));
  }

  static empty(): CoEngagementTable {
    return new CoEngagementTable(new Map(), new Map(), 0);
  }

  get isEmpty(): boolean {
    return this.sources.size === 0 && this.items.size === 0;
  }

  /** score_AB, or 0 (no evidence either way) when the pair is not published. */
  pairScore(source: string, target: string): number {
    return this.index.get(source)?.get(target)?.score ?? 0;
  }

  /** Item-level score of `id`, or 0. */
  itemScore(id: string): number {
    return this.items.get(id)?.score ?? 0;
  }

  neighbours(source: string): readonly CoEngagementEntry[] {
    return this.sources.get(source) ?? [];
  }

  get pairCount(): number {
    let n = 0;
    for (const entries of this.sources.values()) n += entries.length;
    return n;
  }
}

export interface BuildOptions {
  /** Time (ms) the decay is measured to; default: the newest event seen. */
  now?: number;
  /** Items still in the catalogue; deleted ones are dropped as sources and targets. Default: all live. */
  isLive?: (id: string) => boolean;
}

export interface AggregatorStats {
  sessions: number;
  events: number;
  /** Events without a by-id source (an upload query none resolved) or with a bad timestamp. */
  ignored: number;
  evictedPairs: number;
  evictedSources: number;
}

/**
 * Accumulates closed sessions (all of a session's events at once, so distinct-session counts are
 * exact) and builds the table. The indexer feeds it sessions idle for longer than its session
 * timeout; `aggregateEvents` does the grouping for a batch of events.
 */
export class CoEngagementAggregator {
  readonly options: CoEngagementOptions;
  private readonly pairs = new Map<string, Map<string, Evidence>>();
  /** Last update per source (ms), for evicting the least recently active sources. */
  private readonly sourceAt = new Map<string, number>();
  private readonly targets = new Map<string, Evidence>();
  /** Catalogue-wide impressions and engagement weight per position bucket (not decayed: a ratio). */
  private readonly bucketImpressions = new Float64Array(BUCKETS);
  private readonly bucketEngagement = new Float64Array(BUCKETS);
  private newest = -Infinity;
  readonly stats: AggregatorStats = {
    sessions: 0,
    events: 0,
    ignored: 0,
    evictedPairs: 0,
    evictedSources: 0,
  };

  constructor(
    options: Partial<CoEngagementOptions> = {},
    /** Resolves the source item of a `{ queryId }` context (e.g. an upload's top hit); default: none. */
    private readonly sourceOfQuery: (queryId: string) => string | undefined = () => undefined,
  ) {
    this.options = { ...DEFAULT_CO_ENGAGEMENT_OPTIONS, ...options };
    const { halfLifeDays, minSessions, priorExposure, topM, maxPairsPerSource, maxSources } = this.options;
    if (!(halfLifeDays > 0)) throw new RangeError('halfLifeDays must be > 0');
    if (!(priorExposure > 0)) throw new RangeError('priorExposure must be > 0');
    if (!(minSessions >= 1 && topM >= 1 && maxPairsPerSource >= topM && maxSources >= 1))
      throw new RangeError('need minSessions ≥ 1, topM ≥ 1, maxPairsPerSource ≥ topM, maxSources ≥ 1');
  }

  private sourceOf(event: ShopperEvent): string | undefined {
    return 'sourceItemId' in event.context
      ? event.context.sourceItemId
      : this.sourceOfQuery(event.context.queryId);
  }

  private decay(dtMs: number): number {
    return Math.pow(2, -dtMs / (this.options.halfLifeDays * DAY_MS));
  }

  /** Adds one session's contribution, both decayed to the later of the two times. */
  private merge(into: Evidence, c: SessionContribution): void {
    if (c.at >= into.at) {
      const f = this.decay(c.at - into.at);
      into.engagement = into.engagement * f + c.engagement;
      for (let b = 0; b < BUCKETS; b++)
        into.impressions[b] = (into.impressions[b] as number) * f + (c.impressions[b] as number);
      into.at = c.at;
    } else {
      const f = this.decay(into.at - c.at);
      into.engagement += c.engagement * f;
      for (let b = 0; b < BUCKETS; b++)
        into.impressions[b] = (into.impressions[b] as number) + (c.impressions[b] as number) * f;
    }
    into.sessions++;
  }

  /** All events of one closed session. */
  addSession(events: readonly ShopperEvent[]): void {
    const { weights } = this.options;
    // pair key → the session's contribution; item → the session's contribution over all sources.
    const perPair = new Map<string, Map<string, SessionContribution>>();
    const perItem = new Map<string, SessionContribution>();
    const contribution = (map: Map<string, SessionContribution>, id: string, at: number) => {
      let c = map.get(id);
      if (!c) map.set(id, (c = { at, engagement: 0, impressions: new Float64Array(BUCKETS) }));
      c.at = Math.max(c.at, at);
      return c;
    };
    for (const event of events) {
      this.stats.events++;
      const source = this.sourceOf(event);
      const at = timeOf(event);
      if (source === undefined || Number.isNaN(at) || source === event.itemId) {
        this.stats.ignored++;
        continue;
      }
      this.newest = Math.max(this.newest, at);
      let targets = perPair.get(source);
      if (!targets) perPair.set(source, (targets = new Map()));
      const pair = contribution(targets, event.itemId, at);
      const item = contribution(perItem, event.itemId, at);
      const bucket = bucketOf(Math.max(0, event.position));
      if (event.type === 'impression') {
        pair.impressions[bucket] = (pair.impressions[bucket] as number) + 1;
        item.impressions[bucket] = (item.impressions[bucket] as number) + 1;
        this.bucketImpressions[bucket] = (this.bucketImpressions[bucket] as number) + 1;
      } else {
        const w = weights[event.type] ?? 0;
        // The session's strongest engagement only; the position curve learns from the same numbers.
        if (w > pair.engagement) {
          this.bucketEngagement[bucket] = (this.bucketEngagement[bucket] as number) + (w - pair.engagement);
          pair.engagement = w;
        }
      }
    }
    if (perPair.size === 0) return;
    this.stats.sessions++;
    for (const [source, targets] of perPair) {
      let evidence = this.pairs.get(source);
      if (!evidence) this.pairs.set(source, (evidence = new Map()));
      for (const [target, c] of targets) {
        let e = evidence.get(target);
        if (!e) evidence.set(target, (e = newEvidence(c.at)));
        this.merge(e, c);
        // Item level: the engagement of this session with the item over every page it was shown on.
        const item = perItem.get(target) as SessionContribution;
        item.engagement = Math.max(item.engagement, c.engagement);
      }
      this.sourceAt.set(
        source,
        Math.max(this.sourceAt.get(source) ?? -Infinity, ...[...targets.values()].map((c) => c.at)),
      );
      if (evidence.size > this.options.maxPairsPerSource * 1.25) this.prunePairs(evidence);
    }
    for (const [target, c] of perItem) {
      let e = this.targets.get(target);
      if (!e) this.targets.set(target, (e = newEvidence(c.at)));
      this.merge(e, c);
    }
    if (this.pairs.size > this.options.maxSources * 1.25) this.pruneSources();
  }

  /** Keeps the `maxPairsPerSource` pairs with the most sessions (then the most recent). */
  private prunePairs(evidence: Map<string, Evidence>): void {
    const kept = [...evidence].sort((a, b) => b[1].sessions - a[1].sessions || b[1].at - a[1].at);
    for (const [target] of kept.slice(this.options.maxPairsPerSource)) {
      evidence.delete(target);
      this.stats.evictedPairs++;
    }
  }

  /** Keeps the `maxSources` most recently active sources. */
  private pruneSources(): void {
    const order = [...this.sourceAt].sort((a, b) => b[1] - a[1]);
    for (const [source] of order.slice(this.options.maxSources)) {
      this.pairs.delete(source);
      this.sourceAt.delete(source);
      this.stats.evictedSources++;
    }
  }

  /**
   * c(bucket): the engagement an impression in that position bucket is expected to earn, by the
   * position-based click model E[engagement] = θ(position) · γ(item). The raw per-position rate
   * would mix the two: the top results are clicked more also because they are the most similar, so
   * dividing by it would demote exactly the items the visual ranking put first. θ is separated from
   * γ by alternating updates over the item-level evidence (an item shown at several positions, on
   * several items' pages, tells them apart):
   *   γ_i = E_i / Σ_b n_ib θ_b        θ_b = E_b / Σ_i n_ib γ_i        (θ_0 = 1)
   * then c(b) = θ_b · K with K making the expected total equal the observed total. Item sums are
   * decayed and the bucket totals not; the ratio θ_b / θ_0 is unaffected by a common factor.
   */
  positionCurve(iterations = 30): Float64Array {
    const theta = new Float64Array(BUCKETS).fill(1);
    const gamma = new Map<string, number>();
    for (let it = 0; it < iterations; it++) {
      for (const [id, e] of this.targets) {
        let exposure = 0;
        for (let b = 0; b < BUCKETS; b++) exposure += (e.impressions[b] as number) * (theta[b] as number);
        gamma.set(id, exposure > 0 ? e.engagement / exposure : 0);
      }
      const expected = new Float64Array(BUCKETS);
      for (const [id, e] of this.targets) {
        const g = gamma.get(id) ?? 0;
        for (let b = 0; b < BUCKETS; b++)
          expected[b] = (expected[b] as number) + (e.impressions[b] as number) * g;
      }
      for (let b = 0; b < BUCKETS; b++) {
        const n = this.bucketImpressions[b] as number;
        // A bucket never shown (or never engaged in yet) keeps the examination of the one above it.
        theta[b] =
          n > 0 && (expected[b] as number) > 0 && (this.bucketEngagement[b] as number) > 0
            ? (this.bucketEngagement[b] as number) / (expected[b] as number)
            : b > 0
              ? (theta[b - 1] as number)
              : 1;
      }
      const top = theta[0] as number;
      for (let b = 0; b < BUCKETS; b++) theta[b] = Math.min(1, Math.max(0.02, (theta[b] as number) / top));
    }
    let engagement = 0;
    let weighted = 0;
    for (let b = 0; b < BUCKETS; b++) {
      engagement += this.bucketEngagement[b] as number;
      weighted += (this.bucketImpressions[b] as number) * (theta[b] as number);
    }
    const k = weighted > 0 ? engagement / weighted : 0;
    return theta.map((t) => t * k);
  }

  private entry(id: string, e: Evidence, curve: Float64Array, now: number): CoEngagementEntry {
    const f = this.decay(Math.max(0, now - e.at));
    let exposure = 0;
    for (let b = 0; b < BUCKETS; b++) exposure += (e.impressions[b] as number) * (curve[b] as number);
    const m = this.options.priorExposure;
    // Rounded to float32 as published: a built table and its decoded attachment rank identically.
    const score = Math.fround(Math.log((e.engagement * f + m) / (exposure * f + m)));
    return { id, score, sessions: e.sessions };
  }

  build(options: BuildOptions = {}): CoEngagementTable {
    const now = options.now ?? (Number.isFinite(this.newest) ? this.newest : 0);
    const isLive = options.isLive ?? (() => true);
    const { minSessions, topM } = this.options;
    const curve = this.positionCurve();
    const sources = new Map<string, CoEngagementEntry[]>();
    for (const [source, evidence] of this.pairs) {
      if (!isLive(source)) continue;
      const entries: CoEngagementEntry[] = [];
      for (const [target, e] of evidence) {
        if (e.sessions < minSessions || !isLive(target)) continue;
        const entry = this.entry(target, e, curve, now);
        if (entry.score !== 0) entries.push(entry);
      }
      if (entries.length === 0) continue;
      entries.sort((a, b) => Math.abs(b.score) - Math.abs(a.score) || (a.id < b.id ? -1 : 1));
      sources.set(source, entries.slice(0, topM));
    }
    const items = new Map<string, CoEngagementEntry>();
    for (const [target, e] of this.targets) {
      if (e.sessions < minSessions || !isLive(target)) continue;
      const entry = this.entry(target, e, curve, now);
      if (entry.score !== 0) items.set(target, entry);
    }
    return new CoEngagementTable(sources, items, now);
  }
}

/** Groups events by session (each session whole) and aggregates them. */
export function aggregateEvents(
  events: Iterable<ShopperEvent>,
  options: Partial<CoEngagementOptions> = {},
  build: BuildOptions = {},
): CoEngagementTable {
  return aggregatorOf(events, options).build(build);
}

export function aggregatorOf(
  events: Iterable<ShopperEvent>,
  options: Partial<CoEngagementOptions> = {},
): CoEngagementAggregator {
  const sessions = new Map<string, ShopperEvent[]>();
  for (const event of events) {
    let list = sessions.get(event.sessionId);
    if (!list) sessions.set(event.sessionId, (list = []));
    list.push(event);
  }
  const aggregator = new CoEngagementAggregator(options);
  for (const list of sessions.values()) aggregator.addSession(list);
  return aggregator;
}
