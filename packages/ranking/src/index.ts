export { fitLda, project, seededRandom, type LdaOptions, type LdaProjection } from './lda';
export {
  precisionAt,
  averagePrecisionAt,
  summarize,
  perClassPrecision,
  type JudgedQuery,
  type MetricSummary,
  type ClassPrecision,
} from './metrics';
export {
  RANKING_MODEL_ATTACHMENT,
  RANKING_ITEMS_ATTACHMENT,
  RANKING_ITEMS_DELTA_ATTACHMENT,
  DEFAULT_WEIGHTS,
  encodeRankingModel,
  decodeRankingModel,
  type RankingModel,
  type RankingWeights,
  type FitStats,
} from './model';
export {
  ItemFeatureTable,
  encodeItemFeatures,
  decodeItemFeatures,
  encodeItemFeatureDelta,
  decodeItemFeatureDelta,
  overlayItemFeatures,
  type ItemFeatureDelta,
} from './items';
export { RankingFormatError } from './codec';
export {
  DEFAULT_RANKING_CONFIG,
  collectFitData,
  fitRankingModel,
  deriveRankingAttachments,
  refitDue,
  servedSpaceOf,
  itemsMatchModel,
  readRankingModel,
  readItemFeatures,
  ITEM_DELTA_MIN_ROWS,
  labelOf,
  type RankingConfig,
  type FitData,
  type RankingChange,
} from './fit';
export {
  LearnedRanker,
  rankedSearch,
  rankedSearchById,
  rankedSearchWith,
  rankedSearchByIdWith,
  type CandidateSearch,
} from './ranker';
export {
  RankingMaintainer,
  fitInWorker,
  type RankingStore,
  type RankingStoreChange,
  type RankingLogger,
  type RankingMaintainerOptions,
} from './maintainer';
export type * from './ports';
