import type { BlendCandidate, ShopperEvent } from '@lookalike/feedback';
import { seededRandom } from '@lookalike/ranking';

/**
 * Simulated shoppers for the feedback evaluation (README, Evaluation → Feedback). They browse the
 * product's own by-id results and click, add to cart and buy according to a hidden taste the images
 * do not show: a brand (the first word of `productDisplayName`), a `usage` and a `season`, plus a
 * population-wide appeal per brand. Nothing here is visible to the hybrid ranking: it is given the
 * events this module writes and the visual results, never the tastes, the appeal or these options.
 */

export interface ShopItem {
  id: string;
  metadata: Record<string, string | number>;
}

/** A source item's served visual candidates (learned ranking order), with their metadata. */
export type ShopCandidate = BlendCandidate & { metadata: Record<string, string | number> };

export interface ShopperOptions {
  /** Results on a page (what a shopper sees and the impressions logged). */
  pageSize: number;
  /** Examination probability of position p (0-based): (1 + p)^-examinationDecay. */
  examinationDecay: number;
  /** Logit of the attractiveness: base + the matches below + the brand's appeal. */
  base: number;
  sameArticleType: number;
  sameBrand: number;
  sameUsage: number;
  sameSeason: number;
  /** Standard deviation of the population-wide appeal of each brand (logit). */
  brandAppealSd: number;
  /** Per-impression whim (standard deviation, logit) the shopper adds to the attractiveness. */
  noiseSd: number;
  /** Chance the session's brand is the brand of the item it started on (else drawn by brand size). */
  brandLoyalty: number;
  usageLoyalty: number;
  seasonLoyalty: number;
  /** After a click: add to cart with probability cart · attractiveness; then buy with `purchase`. */
  cart: number;
  purchase: number;
  /** After a page with clicks: chance to open the results of one of the clicked items. */
  continueAfterClick: number;
  maxPages: number;
  /** Start items: Zipf over a hidden popularity order with this exponent. */
  zipf: number;
  /** Sessions spread over this many days (the aggregation's decay sees realistic ages). */
  days: number;
}

export const DEFAULT_SHOPPER_OPTIONS: ShopperOptions = {
  pageSize: 10,
  examinationDecay: 0.7,
  base: -2.5,
  sameArticleType: 1.0,
  sameBrand: 1.5,
  sameUsage: 1.0,
  sameSeason: 0.6,
  brandAppealSd: 0.6,
  noiseSd: 0.5,
  brandLoyalty: 0.6,
  usageLoyalty: 0.5,
  seasonLoyalty: 0.5,
  cart: 0.3,
  purchase: 0.4,
  continueAfterClick: 0.5,
  maxPages: 5,
  zipf: 1.0,
  days: 30,
};

/** The hidden taste of one session. */
export interface Taste {
  brand: string;
  usage: string;
  season: string;
}

export function brandOf(item: ShopItem): string {
  const name = String(item.metadata.productDisplayName ?? '').trim();
  return (name.split(/\s+/)[0] ?? '').toLowerCase();
}

function field(item: ShopItem, name: string): string {
  return String(item.metadata[name] ?? '');
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Standard normal (Box–Muller) from a uniform source. */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * One simulated world: the catalogue, its hidden brand appeal and popularity, and the shoppers'
 * behaviour model. `seed` fixes the world; each call to `sessions` draws its own stream.
 */
export class ShopperWorld {
  readonly options: ShopperOptions;
  private readonly byId: Map<string, ShopItem>;
  private readonly appeal = new Map<string, number>();
  /** Items by hidden popularity, most popular first, and the Zipf CDF over that order. */
  private readonly popularity: ShopItem[];
  private readonly startCdf: Float64Array;
  /** Every item's brand / usage / season (values drawn by item, so by catalogue share). */
  private readonly brands: string[];
  private readonly usages: string[];
  private readonly seasons: string[];

  constructor(
    readonly items: readonly ShopItem[],
    readonly seed: number,
    options: Partial<ShopperOptions> = {},
  ) {
    this.options = { ...DEFAULT_SHOPPER_OPTIONS, ...options };
    this.byId = new Map(items.map((item) => [item.id, item]));
    const random = seededRandom(seed * 7919 + 17);
    this.brands = items.map(brandOf);
    this.usages = items.map((item) => field(item, 'usage'));
    this.seasons = items.map((item) => field(item, 'season'));
    for (const brand of [...new Set(this.brands)].sort())
      this.appeal.set(brand, this.options.brandAppealSd * gaussian(random));
    this.popularity = [...items];
    for (let i = this.popularity.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [this.popularity[i], this.popularity[j]] = [
        this.popularity[j] as ShopItem,
        this.popularity[i] as ShopItem,
      ];
    }
    this.startCdf = new Float64Array(items.length);
    let total = 0;
    for (let r = 0; r < items.length; r++) this.startCdf[r] = total += Math.pow(r + 1, -this.options.zipf);
    for (let r = 0; r < items.length; r++) this.startCdf[r] = (this.startCdf[r] as number) / total;
  }

  examination(position: number): number {
    return Math.pow(1 + position, -this.options.examinationDecay);
  }

  /** Probability a shopper of `taste` on `source`'s page is attracted by `target` (noise-free). */
  attractiveness(taste: Taste, source: ShopItem, target: ShopItem): number {
    const o = this.options;
    let u = o.base + (this.appeal.get(brandOf(target)) ?? 0);
    if (field(target, 'articleType') === field(source, 'articleType')) u += o.sameArticleType;
    if (brandOf(target) === taste.brand) u += o.sameBrand;
    if (field(target, 'usage') === taste.usage) u += o.sameUsage;
    if (field(target, 'season') === taste.season) u += o.sameSeason;
    return sigmoid(u);
  }

  item(id: string): ShopItem | undefined {
    return this.byId.get(id);
  }

  private drawStart(random: () => number): ShopItem {
    const x = random();
    let lo = 0;
    let hi = this.startCdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.startCdf[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return this.popularity[lo] as ShopItem;
  }

  /** A session's taste: partly the item it landed on (shoppers land on what they like), partly drawn. */
  private drawTaste(start: ShopItem, random: () => number): Taste {
    const o = this.options;
    const pick = (values: string[]) => values[Math.floor(random() * values.length)] as string;
    return {
      brand: random() < o.brandLoyalty ? brandOf(start) : pick(this.brands),
      usage: random() < o.usageLoyalty ? field(start, 'usage') : pick(this.usages),
      season: random() < o.seasonLoyalty ? field(start, 'season') : pick(this.seasons),
    };
  }

  /** A held-out shopper: where they start and what they like (the truth the evaluation judges by). */
  heldOut(count: number, stream: number): Array<{ start: ShopItem; taste: Taste }> {
    const random = seededRandom(this.seed * 104729 + stream);
    return Array.from({ length: count }, () => {
      const start = this.drawStart(random);
      return { start, taste: this.drawTaste(start, random) };
    });
  }

  /**
   * Sessions browsing `results` (by-id results of the served ranking, best first) until at least
   * `events` events were logged. Each session: start on a Zipf-popular item; see its first page (one
   * impression per result); examine position p with (1+p)^-decay and click an examined result with its
   * attractiveness (+ noise); perhaps add to cart and buy; after a page with clicks perhaps open one
   * clicked item's results, up to `maxPages`.
   */
  simulate(
    results: (source: string) => readonly ShopCandidate[] | undefined,
    events: number,
    stream: number,
  ): { events: ShopperEvent[]; sessions: number } {
    const o = this.options;
    const random = seededRandom(this.seed * 15485863 + stream);
    const out: ShopperEvent[] = [];
    const start = Date.UTC(2026, 0, 1);
    let sessions = 0;
    while (out.length < events) {
      const sessionId = `sim-${this.seed}-${stream}-${sessions++}`;
      let source = this.drawStart(random);
      const taste = this.drawTaste(source, random);
      let t = start + random() * o.days * 86_400_000;
      const log = (type: ShopperEvent['type'], itemId: string, position: number) => {
        t += 2_000 + random() * 20_000;
        out.push({
          eventId: `${sessionId}-${out.length}`,
          type,
          itemId,
          context: { sourceItemId: source.id },
          position,
          timestamp: Math.round(t),
          sessionId,
        });
      };
      for (let pageNo = 0; pageNo < o.maxPages; pageNo++) {
        const shown = (results(source.id) ?? []).slice(0, o.pageSize);
        shown.forEach((hit, p) => log('impression', hit.id, p));
        const clicked: ShopItem[] = [];
        shown.forEach((hit, p) => {
          const target = this.byId.get(hit.id);
          if (!target || random() >= this.examination(p)) return;
          const attraction = this.attractiveness(taste, source, target);
          const whim = sigmoid(Math.log(attraction / (1 - attraction)) + o.noiseSd * gaussian(random));
          if (random() >= whim) return;
          log('click', hit.id, p);
          clicked.push(target);
          if (random() < o.cart * attraction) {
            log('add_to_cart', hit.id, p);
            if (random() < o.purchase) log('purchase', hit.id, p);
          }
        });
        if (clicked.length === 0 || random() >= o.continueAfterClick) break;
        source = clicked[Math.floor(random() * clicked.length)] as ShopItem;
      }
    }
    return { events: out, sessions };
  }
}
