import type { CoEngagementTable } from './aggregate';

/**
 * Hybrid ranking of a query by id: the visual candidates (already ordered by the learned ranking)
 * re-scored with what shoppers did on that item's page.
 *
 *   score = rankScore + w_pair · score_AB + w_item · score_B
 *
 * score_AB is the pair's log-lift (`CoEngagementTable.pairScore`), score_B the item-level log-lift;
 * both are 0 where there is no published evidence, so an item shoppers never saw keeps its visual
 * score. Only the candidates given are re-ordered: feedback never brings in an item the visual
 * search did not find. Below the visual plausibility floor (`similarity < floor`) feedback may
 * demote but never promote, so it cannot lift a visually implausible item (say, the belt bought with
 * a shirt) above the items that look like the query.
 */

export type RankingSignal = 'visual' | 'labels' | 'feedback';

export interface BlendCandidate {
  id: string;
  /** Cosine similarity to the query item (the quantity the floor is measured in). */
  similarity: number;
  /** The learned ranking's score (equal to `similarity` when the snapshot has no ranking model). */
  score: number;
}

export interface BlendWeights {
  /** Weight of the pair's log-lift. */
  pair: number;
  /** Weight of the target item's log-lift. */
  item: number;
}

export const VISUAL_ONLY: BlendWeights = { pair: 0, item: 0 };

export interface BlendOptions {
  weights: BlendWeights;
  /** Visual plausibility floor: no positive feedback below this similarity. */
  floor: number;
}

/**
 * Label slots: a candidate's group (e.g. whether it agrees with the query item on articleType,
 * subCategory and baseColour). With it, every position keeps the group the visual ranking put there
 * and feedback re-orders only among the candidates of one group — so any label precision of the
 * visual ranking is kept exactly, while shoppers still choose which look-alike fills each place.
 */
export type SlotGroup<T extends BlendCandidate> = (candidate: T) => string;

export type Blended<T extends BlendCandidate> = T & {
  /** What ordered this result: always the visual similarity; the labels when the learned ranking moved its score; feedback when shoppers' events did. */
  signals: RankingSignal[];
  /** The feedback term added to its ranking score (0: none). */
  feedback: number;
};

/** The feedback term of `target` on `source`'s page, floor applied. */
export function feedbackTerm(
  table: CoEngagementTable,
  source: string,
  candidate: BlendCandidate,
  options: BlendOptions,
): number {
  const { pair, item } = options.weights;
  let term = 0;
  if (pair !== 0) term += pair * table.pairScore(source, candidate.id);
  if (item !== 0) term += item * table.itemScore(candidate.id);
  return candidate.similarity < options.floor ? Math.min(0, term) : term;
}

/**
 * The candidates re-ordered by the blended score (ties keep the input order). When no candidate has
 * a feedback term (no events, weights 0, or nothing known about these items) the output is the input,
 * in the same order with the same scores.
 */
export function blendRanking<T extends BlendCandidate>(
  source: string,
  candidates: readonly T[],
  table: CoEngagementTable,
  options: BlendOptions,
  slots?: SlotGroup<T>,
): Array<Blended<T>> {
  const out = candidates.map((c) => {
    const feedback = feedbackTerm(table, source, c, options);
    const signals: RankingSignal[] = ['visual'];
    if (c.score !== c.similarity) signals.push('labels');
    if (feedback !== 0) signals.push('feedback');
    // Object.assign, not `{ ...c, score, signals, feedback }`: on Node 20 a spread clone given new
    // properties outlives the young generation (measured: every such object is promoted), which
    // turns each by-id answer into old-space garbage and its collection into query-latency pauses.
    return Object.assign({}, c, { score: c.score + feedback, signals, feedback }) as Blended<T>;
  });
  if (out.every((c) => c.feedback === 0)) return out;
  const byScore = (a: { c: Blended<T>; i: number }, b: { c: Blended<T>; i: number }) =>
    b.c.score - a.c.score || a.i - b.i;
  const order = out.map((c, i) => ({ c, i }));
  if (!slots) return order.sort(byScore).map(({ c }) => c);
  // Each group's members, best blended score first, fill the positions the group held.
  const groups = new Map<string, Array<{ c: Blended<T>; i: number }>>();
  const groupAt = candidates.map((c) => slots(c));
  order.forEach((entry) => {
    const g = groupAt[entry.i] as string;
    let members = groups.get(g);
    if (!members) groups.set(g, (members = []));
    members.push(entry);
  });
  for (const members of groups.values()) members.sort(byScore);
  const next = new Map<string, number>();
  return groupAt.map((g) => {
    const k = next.get(g) ?? 0;
    next.set(g, k + 1);
    return (groups.get(g) as Array<{ c: Blended<T>; i: number }>)[k]?.c as Blended<T>;
  });
}

/**
 * The visual plausibility floor from the similarities of every sampled item's k-th visual
 * neighbour: their `quantile`. With k = 10 and quantile 0.05, an item passes when it is at least as
 * similar as the 10th neighbour is for 95 % of the catalogue — as plausible as a result the visual
 * search itself shows on a first page almost everywhere.
 */
export function similarityFloor(kthSimilarities: readonly number[], quantile = 0.05): number {
  const sorted = kthSimilarities.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return -Infinity;
  const q = Math.min(1, Math.max(0, quantile)) * (sorted.length - 1);
  const lo = Math.floor(q);
  const hi = Math.ceil(q);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (q - lo);
}

/**
 * The label slots of `source`'s candidates (`blendRanking`'s `slots`): which of `fields` each
 * candidate shares with the source item, as a key such as `101`. Undefined (the free blend) without
 * fields or without the source's metadata.
 */
export function labelSlots<T extends BlendCandidate & { metadata?: Record<string, unknown> }>(
  sourceMetadata: Record<string, unknown> | undefined,
  fields: readonly string[],
): SlotGroup<T> | undefined {
  if (!sourceMetadata || fields.length === 0) return undefined;
  return (c) =>
    fields
      .map((f) => {
        const value = c.metadata?.[f];
        return value !== undefined && value === sourceMetadata[f] ? '1' : '0';
      })
      .join('');
}
