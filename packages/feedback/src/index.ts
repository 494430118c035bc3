export {
  ENGAGEMENT_TYPES,
  timeOf,
  type ShopperEvent,
  type ShopperEventType,
  type ShopperEventContext,
  type EngagementType,
} from './events';
export {
  CoEngagementAggregator,
  CoEngagementTable,
  DEFAULT_CO_ENGAGEMENT_OPTIONS,
  aggregateEvents,
  aggregatorOf,
  type CoEngagementOptions,
  type CoEngagementEntry,
  type EngagementWeights,
  type BuildOptions,
  type AggregatorStats,
} from './aggregate';
export {
  CO_ENGAGEMENT_ATTACHMENT,
  CO_ENGAGEMENT_FORMAT_VERSION,
  FeedbackFormatError,
  encodeCoEngagement,
  decodeCoEngagement,
  decodeFeedbackAttachment,
  readFeedback,
  noFeedback,
  feedbackActive,
  DEFAULT_FEEDBACK_SETTINGS,
  type FeedbackAttachment,
  type FeedbackSettings,
} from './codec';
export {
  VISUAL_ONLY,
  blendRanking,
  feedbackTerm,
  labelSlots,
  similarityFloor,
  type BlendCandidate,
  type BlendWeights,
  type BlendOptions,
  type Blended,
  type RankingSignal,
  type SlotGroup,
} from './blend';
export {
  DEFAULT_FIT_OPTIONS,
  fitBlendWeights,
  isValidationSession,
  ndcgAt,
  dcgAt,
  examinationByPosition,
  type FitOptions,
  type WeightFit,
} from './fit';
export {
  buildFeedback,
  judgedSources,
  type CatalogueCandidate,
  type FeedbackBuild,
  type FeedbackBuildInput,
} from './build';
