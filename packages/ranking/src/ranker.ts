import type { RankedHit, SearchHit, SearchOptions } from '@lookalike/contracts';
import { itemsMatchModel, readItemFeatures, readRankingModel, labelOf } from './fit';
import { normalizedProjection, type ItemFeatureTable } from './items';
import type { RankingModel } from './model';
import type { QuerySnapshot, RankingQuery } from './ports';

/** The snapshot's MAX_K: candidates are fetched with one plain search. */
const MAX_CANDIDATES = 100;

interface Candidate {
  hit: SearchHit;
  /** cosine + projection term. */
  visual: number;
  colour: number;
  score: number;
}

/** Softmax-weighted vote of the first `n` candidates (by `key`) over a label field. */
function vote(
  ranked: readonly Candidate[],
  n: number,
  temperature: number,
  field: string,
  key: (c: Candidate) => number,
): Map<string, number> {
  const top = ranked.slice(0, n);
  const shares = new Map<string, number>();
  if (top.length === 0) return shares;
  const best = Math.max(...top.map(key));
  let total = 0;
  for (const c of top) {
    const weight = Math.exp((key(c) - best) / temperature);
    total += weight;
    const label = labelOf(c.hit.metadata, field);
    if (label !== null) shares.set(label, (shares.get(label) ?? 0) + weight);
  }
  for (const [label, weight] of shares) shares.set(label, weight / total);
  return shares;
}

function oneHot(label: string | null): Map<string, number> | null {
  return label === null ? null : new Map([[label, 1]]);
}

/**
 * Query-time re-ranking of a snapshot's plain nearest neighbours with its learned ranking state:
 * score = cosine + w_p·cos(LDA projections) + w_c·colour similarity + w_v·(share of the
 * neighbourhood's label vote for the candidate's label) + w_cv·(the same for the colour label).
 * The query's labels are unknown for an upload and voted by its neighbours; for a query by id the
 * item's own labels are known and used as they are.
 */
export class LearnedRanker {
  private constructor(
    readonly model: RankingModel,
    private readonly items: ItemFeatureTable,
  ) {}

  private static readonly cache = new WeakMap<object, LearnedRanker | null>();

  /**
   * The ranker of a snapshot (decoded once per snapshot), or null — plain similarity — when it holds
   * no model, or a model fitted in another served space than the snapshot serves (a projection was
   * published after the fit: its LDA would map vectors of the old space) or whose item projections
   * are missing. The indexer's refit (refitDue says why) publishes a model for the new space.
   */
  static forSnapshot(snapshot: QuerySnapshot): LearnedRanker | null {
    let ranker = LearnedRanker.cache.get(snapshot);
    if (ranker === undefined) {
      const attachments = snapshot.attachment ? { attachment: snapshot.attachment.bind(snapshot) } : null;
      const model = readRankingModel(attachments);
      const items = model && attachments ? readItemFeatures(attachments) : null;
      const space = snapshot.projection?.id ?? null;
      ranker =
        model && items && model.servedSpace === space && itemsMatchModel(model, items)
          ? new LearnedRanker(model, items)
          : null;
      LearnedRanker.cache.set(snapshot, ranker);
    }
    return ranker;
  }

  search(snapshot: QuerySnapshot, query: RankingQuery, options: SearchOptions): RankedHit[] {
    return this.rerankQuery(snapshot.search(query.vector, this.candidateOptions(options)), query, options.k);
  }

  searchById(snapshot: QuerySnapshot, id: string, options: SearchOptions): RankedHit[] {
    return this.rerankById(snapshot, id, snapshot.searchById(id, this.candidateOptions(options)), options.k);
  }

  /** The plain search whose hits the ranking re-ranks: the same query, more candidates. */
  candidateOptions(options: SearchOptions): SearchOptions {
    return { ...options, k: Math.min(MAX_CANDIDATES, Math.max(options.k, this.model.weights.candidates)) };
  }

  /** Re-ranks the candidates (`candidateOptions`) of a query image; its labels are voted by them. */
  rerankQuery(candidates: SearchHit[], query: RankingQuery, k: number): RankedHit[] {
    const inputDimension = this.model.lda?.inputDimension;
    if (inputDimension !== undefined && query.vector.length !== inputDimension)
      throw new RangeError(
        `query vector has ${query.vector.length} floats; the ranking model maps served vectors of ${inputDimension} (project the raw embedding first)`,
      );
    const projection = this.model.lda
      ? normalizedProjection(this.model, query.vector, new Float32Array(this.model.lda.dimensions))
      : null;
    const colour = query.colourRoot
      ? Float32Array.from(query.colourRoot, (root) => root * 255)
      : query.colour
        ? Float32Array.from(query.colour, (p) => Math.sqrt(Math.max(0, p)) * 255)
        : null;
    return this.rerank(candidates, projection, colour, null, k);
  }

  /**
   * An item's stored colour histogram as probabilities (the √p bytes squared back), or undefined when
   * the item has none: what a query built from stored items (a multi-example query) uses as its colour.
   */
  colourOf(id: string): Float32Array | undefined {
    const row = this.items.rowOf(id);
    const l = this.items.colourDim;
    if (row === undefined || l === 0 || this.items.hasColour[row] !== 1) return undefined;
    return Float32Array.from(this.items.colours.subarray(row * l, (row + 1) * l), (b) => (b / 255) ** 2);
  }

  /** Re-ranks the candidates of a query by id with the item's stored features and its own labels. */
  rerankById(snapshot: QuerySnapshot, id: string, candidates: SearchHit[], k: number): RankedHit[] {
    const row = this.items.rowOf(id);
    const m = this.items.projectionDim;
    const projection =
      row !== undefined && m > 0 ? this.items.projections.subarray(row * m, (row + 1) * m) : null;
    const l = this.items.colourDim;
    const colour =
      row !== undefined && this.items.hasColour[row] === 1
        ? Float32Array.from(this.items.colours.subarray(row * l, (row + 1) * l))
        : null;
    return this.rerank(candidates, projection, colour, snapshot.get(id)?.metadata ?? null, k);
  }

  private rerank(
    hits: SearchHit[],
    projection: Float32Array | null,
    colour: Float32Array | null,
    known: Record<string, string | number> | null,
    k: number,
  ): RankedHit[] {
    const { weights, labelFields, colourField } = this.model;
    const { items } = this;
    const m = items.projectionDim;
    const l = items.colourDim;
    const candidates: Candidate[] = hits.map((hit) => ({ hit, visual: hit.score, colour: NaN, score: 0 }));
    let colourSum = 0;
    let colourCount = 0;
    for (const c of candidates) {
      const row = items.rowOf(c.hit.id);
      if (row === undefined) continue;
      if (projection && m === projection.length) {
        let s = 0;
        const offset = row * m;
        for (let j = 0; j < m; j++)
          s += (projection[j] as number) * (items.projections[offset + j] as number);
        c.visual += weights.projection * s;
      }
      if (colour && l === colour.length && items.hasColour[row] === 1) {
        let s = 0;
        const offset = row * l;
        for (let j = 0; j < l; j++) s += (colour[j] as number) * (items.colours[offset + j] as number);
        c.colour = s / (255 * 255);
        colourSum += c.colour;
        colourCount++;
      }
    }
    // A candidate without colour features is neither favoured nor penalised: it gets the mean.
    const meanColour = colourCount > 0 ? colourSum / colourCount : 0;
    for (const c of candidates) if (Number.isNaN(c.colour)) c.colour = meanColour;

    candidates.sort((a, b) => b.visual - a.visual);
    const byVisual = (c: Candidate) => c.visual;
    const votes = labelFields.map(
      (field) =>
        oneHot(labelOf(known ?? undefined, field)) ??
        vote(candidates, weights.voteNeighbours, weights.voteTemperature, field, byVisual),
    );
    const firstField = labelFields[0];
    const firstVote = votes[0];
    for (const c of candidates) {
      c.score = c.visual + weights.colour * c.colour;
      votes.forEach((shares, f) => {
        const label = labelOf(c.hit.metadata, labelFields[f] as string);
        const share = label === null ? 0 : (shares.get(label) ?? 0);
        c.score += (f === 0 ? weights.labelVote : weights.extraLabelVote) * share;
      });
    }
    if (colourField && weights.colourVote > 0) {
      // The colour label is voted by the neighbours closest in colour among those of the voted label.
      const labelShare = (c: Candidate) => {
        const label = firstField === undefined ? null : labelOf(c.hit.metadata, firstField);
        return label === null || !firstVote ? 0 : (firstVote.get(label) ?? 0);
      };
      const byColour = [...candidates].sort((a, b) => b.colour + labelShare(b) - (a.colour + labelShare(a)));
      const shares =
        oneHot(labelOf(known ?? undefined, colourField)) ??
        vote(
          byColour,
          weights.colourVoteNeighbours,
          weights.colourVoteTemperature,
          colourField,
          (c) => c.colour + labelShare(c),
        );
      for (const c of candidates) {
        const label = labelOf(c.hit.metadata, colourField);
        c.score += weights.colourVote * (label === null ? 0 : (shares.get(label) ?? 0));
      }
    }
    candidates.sort((a, b) => b.score - a.score || b.hit.score - a.hit.score);
    return candidates.slice(0, k).map((c) => rankedHit(c.hit, c.score));
  }
}

/** How a query is answered: the plain search to run, and how its hits become the answer. */
interface RankingPlan {
  candidates: SearchOptions;
  finish(hits: SearchHit[]): RankedHit[];
}

/** The snapshot's ranker widens the plain search and re-ranks its hits; without one, hits stay as they are. */
function planWith(
  snapshot: QuerySnapshot,
  options: SearchOptions,
  rerank: (ranker: LearnedRanker, hits: SearchHit[]) => RankedHit[],
): RankingPlan {
  const ranker = LearnedRanker.forSnapshot(snapshot);
  if (!ranker) return { candidates: options, finish: plain };
  return { candidates: ranker.candidateOptions(options), finish: (hits) => rerank(ranker, hits) };
}

function planByImage(snapshot: QuerySnapshot, query: RankingQuery, options: SearchOptions): RankingPlan {
  return planWith(snapshot, options, (ranker, hits) => ranker.rerankQuery(hits, query, options.k));
}

function planById(snapshot: QuerySnapshot, id: string, options: SearchOptions): RankingPlan {
  return planWith(snapshot, options, (ranker, hits) => ranker.rerankById(snapshot, id, hits, options.k));
}

/** Search by image with the snapshot's learned ranking, or plain nearest neighbours without one. */
export function rankedSearch(
  snapshot: QuerySnapshot,
  query: RankingQuery,
  options: SearchOptions,
): RankedHit[] {
  const plan = planByImage(snapshot, query, options);
  return plan.finish(snapshot.search(query.vector, plan.candidates));
}

/** Search by item id with the snapshot's learned ranking, or plain nearest neighbours without one. */
export function rankedSearchById(snapshot: QuerySnapshot, id: string, options: SearchOptions): RankedHit[] {
  const plan = planById(snapshot, id, options);
  return plan.finish(snapshot.searchById(id, plan.candidates));
}

/**
 * Where a query's plain candidates come from, given the options to search with: the API passes a
 * batcher that answers concurrent queries with one FAISS pass.
 */
export type CandidateSearch = (options: SearchOptions) => Promise<SearchHit[]>;

/** `rankedSearch` with the plain candidates searched by `candidates`. */
export async function rankedSearchWith(
  snapshot: QuerySnapshot,
  query: RankingQuery,
  options: SearchOptions,
  candidates: CandidateSearch,
): Promise<RankedHit[]> {
  const plan = planByImage(snapshot, query, options);
  return plan.finish(await candidates(plan.candidates));
}

/** `rankedSearchById` with the plain candidates searched by `candidates` (the item itself excluded). */
export async function rankedSearchByIdWith(
  snapshot: QuerySnapshot,
  id: string,
  options: SearchOptions,
  candidates: CandidateSearch,
): Promise<RankedHit[]> {
  const plan = planById(snapshot, id, options);
  return plan.finish(await candidates(plan.candidates));
}

/** Without a ranking model the order is visual similarity: score and similarity are the same number. */
function plain(hits: SearchHit[]): RankedHit[] {
  return hits.map((hit) => rankedHit(hit, hit.score));
}

/**
 * A plain hit as a ranked one, written field by field on purpose: on Node 20 (V8 11.3) an object made
 * as `{ ...hit, similarity }` (a spread clone given a property its source lacks) outlives the young
 * generation — measured with --trace-gc-nvp, every such object of the last ~1.5 s is promoted at each
 * scavenge — so each query's results were promoted and the API ran a mark-compact every few seconds
 * (3–13 ms pauses) under steady by-id load. A literal is collected young.
 */
function rankedHit(hit: SearchHit, score: number): RankedHit {
  return { id: hit.id, score, similarity: hit.score, metadata: hit.metadata };
}
