import { aggregateEvents, type CoEngagementOptions } from './aggregate';
import { labelSlots, type BlendCandidate } from './blend';
import { encodeCoEngagement, type FeedbackAttachment, type FeedbackSettings } from './codec';
import { timeOf, type ShopperEvent } from './events';
import { DEFAULT_FIT_OPTIONS, fitBlendWeights, isValidationSession, type WeightFit } from './fit';

/**
 * What the indexer publishes from the event log: the co-engagement table of every event, the blend
 * weights fitted on held-out sessions (`fitBlendWeights`), the visual floor and the settings the fit
 * ran with — one attachment, so every API replica serving that snapshot blends identically.
 *
 * Deterministic: the same events and the same snapshot give the same bytes (sessions are split by
 * a hash of their id, and decay is measured to the newest event, not to the wall clock), so replicas
 * refreshing from one stream publish nothing new, and an unchanged stream publishes nothing.
 */

export type CatalogueCandidate = BlendCandidate & { metadata?: Record<string, unknown> };

export interface FeedbackBuildInput<T extends CatalogueCandidate> {
  events: readonly ShopperEvent[];
  /** A source's served visual candidates, best first (the top `settings.candidates`). */
  candidatesOf: (source: string) => readonly T[] | undefined;
  /** Metadata of a catalogue item (for the label slots), undefined when it is not in the catalogue. */
  metadataOf: (id: string) => Record<string, unknown> | undefined;
  /** Items still in the catalogue: deleted ones drop out of the table as sources and targets. */
  isLive: (id: string) => boolean;
  /** The visual plausibility floor (`similarityFloor`). */
  floor: number;
  settings: FeedbackSettings;
  aggregation?: Partial<CoEngagementOptions>;
  /** Share of sessions held out to fit the weights (default: fitBlendWeights'). */
  validationShare?: number;
}

export interface FeedbackBuild {
  attachment: FeedbackAttachment;
  bytes: Uint8Array;
  fit: WeightFit;
}

/** The sources of the held-out pages `fitBlendWeights` judges: the candidates it will ask for. */
export function judgedSources(
  events: readonly ShopperEvent[],
  validationShare = DEFAULT_FIT_OPTIONS.validationShare,
): Set<string> {
  const sources = new Set<string>();
  for (const event of events)
    if ('sourceItemId' in event.context && isValidationSession(event.sessionId, validationShare))
      sources.add(event.context.sourceItemId);
  return sources;
}

export function buildFeedback<T extends CatalogueCandidate>(input: FeedbackBuildInput<T>): FeedbackBuild {
  const { events, settings, floor, isLive } = input;
  const validationShare = input.validationShare ?? DEFAULT_FIT_OPTIONS.validationShare;
  const slotsOf = (source: string) => labelSlots<T>(input.metadataOf(source), settings.slotFields);
  const fit = fitBlendWeights<T>(events, input.candidatesOf, {
    aggregation: input.aggregation ?? {},
    floor,
    slotsOf,
    validationShare,
  });
  let newest = 0;
  for (const event of events) newest = Math.max(newest, timeOf(event) || 0);
  const table = aggregateEvents(events, input.aggregation ?? {}, { now: newest, isLive });
  const blend = { weights: fit.weights, floor };
  const bytes = encodeCoEngagement(table, blend, settings);
  return { attachment: { table, blend, settings }, bytes, fit };
}
