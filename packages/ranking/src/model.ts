import { decodeContainer, encodeContainer, RankingFormatError } from './codec';
import type { LdaProjection } from './lda';

/** Snapshot attachment holding the fitted model (RankingModel). */
export const RANKING_MODEL_ATTACHMENT = 'ranking-model.bin';
/** Snapshot attachment holding every item's ranking features (ItemFeatureTable) as of its last full write. */
export const RANKING_ITEMS_ATTACHMENT = 'ranking-items.bin';
/**
 * Snapshot attachment holding the rows changed since RANKING_ITEMS_ATTACHMENT was written (added or
 * replaced rows, removed ids; ItemFeatureDelta), laid over it when read. A small change publishes only
 * this (the full table, several MB at 50k items, is hard-linked from the base); absent: no change since.
 */
export const RANKING_ITEMS_DELTA_ATTACHMENT = 'ranking-items-delta.bin';

/**
 * Query-time weights. Measured on the fashion sample (5-fold, README "Evaluation"); each term is
 * added to the candidate's cosine similarity.
 */
export interface RankingWeights {
  /** Plain nearest neighbours re-ranked per query (at most 100, the snapshot's MAX_K). */
  candidates: number;
  /** × cosine of the LDA projections. */
  projection: number;
  /** × Bhattacharyya similarity of the colour histograms. */
  colour: number;
  /** × the share of the neighbourhood's label vote that the candidate's label got (first label field). */
  labelVote: number;
  /** The same for each further label field. */
  extraLabelVote: number;
  /** Neighbours that vote, and the softmax temperature of their scores. */
  voteNeighbours: number;
  voteTemperature: number;
  /** × the share of the colour-label vote (neighbours ranked by colour within the voted label). */
  colourVote: number;
  colourVoteNeighbours: number;
  colourVoteTemperature: number;
}

export const DEFAULT_WEIGHTS: RankingWeights = {
  candidates: 100,
  projection: 1,
  colour: 0.3,
  labelVote: 1,
  // 1 rather than 0.5 once subCategory votes by default: on the 128-d compact default 0.5 / 0.75 / 1
  // give subCategory P@5 0.96748 / 0.96744 / 0.96751, the other criteria equal (5-fold eval).
  extraLabelVote: 1,
  voteNeighbours: 20,
  voteTemperature: 0.05,
  colourVote: 0.3,
  colourVoteNeighbours: 15,
  colourVoteTemperature: 0.05,
};

export interface FitStats {
  fittedAt: string;
  /** Snapshot version the model was fitted on. */
  snapshotVersion: number | null;
  items: number;
  /** Items with a value in the first label field. */
  labelled: number;
  classes: number;
  durationMs: number;
}

/** What the indexer fits and publishes; the API reads it from the snapshot. */
export interface RankingModel {
  /** Metadata fields whose labels drive the ranking; the first also gets the LDA projection. */
  labelFields: string[];
  /** Metadata field naming the item's colour, or null. */
  colourField: string | null;
  /** Null when there were too few labelled classes to fit one. */
  lda: LdaProjection | null;
  weights: RankingWeights;
  stats: FitStats;
  /**
   * The served space the model was fitted in: the id of the snapshot's projection, or null (the raw
   * embeddings). Its LDA maps vectors of that space only; a snapshot serving another space (a new
   * projection published since) ranks by plain similarity until a refit in the new space publishes.
   */
  servedSpace: string | null;
}

const MODEL_MAGIC = 'LKRM';

export function encodeRankingModel(model: RankingModel): Uint8Array {
  const { lda, ...rest } = model;
  const header = {
    ...rest,
    lda: lda
      ? {
          inputDimension: lda.inputDimension,
          dimensions: lda.dimensions,
          eigenvalues: lda.eigenvalues,
          classes: lda.classes,
        }
      : null,
  };
  return encodeContainer(MODEL_MAGIC, header, lda ? { mean: lda.mean, weights: lda.weights } : {});
}

export function decodeRankingModel(bytes: Uint8Array): RankingModel {
  const { header, sections } = decodeContainer(MODEL_MAGIC, bytes);
  const h = header as unknown as Omit<RankingModel, 'lda'> & {
    lda: Omit<LdaProjection, 'mean' | 'weights'> | null;
  };
  if (!Array.isArray(h.labelFields) || typeof h.weights !== 'object')
    throw new RankingFormatError('ranking model header is incomplete');
  let lda: LdaProjection | null = null;
  if (h.lda) {
    const mean = sections.get('mean');
    const weights = sections.get('weights');
    if (!(mean instanceof Float32Array) || !(weights instanceof Float32Array))
      throw new RankingFormatError('ranking model lacks its projection');
    if (mean.length !== h.lda.inputDimension || weights.length !== h.lda.inputDimension * h.lda.dimensions)
      throw new RankingFormatError('ranking model projection has the wrong size');
    lda = { ...h.lda, mean, weights };
  }
  return {
    labelFields: h.labelFields,
    colourField: h.colourField ?? null,
    lda,
    weights: { ...DEFAULT_WEIGHTS, ...h.weights },
    stats: h.stats,
    // Models written before projections existed were all fitted on the raw embeddings.
    servedSpace: typeof h.servedSpace === 'string' ? h.servedSpace : null,
  };
}
