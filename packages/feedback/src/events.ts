/**
 * The shopper events this package learns from. Structurally compatible with the event contract of
 * `packages/events` (issue 17) without depending on it: the aggregation reads only these fields, so
 * the indexer can hand it the contract's events as they come off the stream.
 */

export type ShopperEventType = 'impression' | 'click' | 'add_to_cart' | 'purchase';

/** Where the shown item was shown: the results of a query by id, or of another query (an upload). */
export type ShopperEventContext = { sourceItemId: string } | { queryId: string };

export interface ShopperEvent {
  eventId: string;
  type: ShopperEventType;
  /** The item shown (impression) or engaged with. */
  itemId: string;
  context: ShopperEventContext;
  /** 0-based place of the item in the results it was shown in. */
  position: number;
  /** Epoch milliseconds, or an ISO-8601 string. */
  timestamp: number | string;
  sessionId: string;
}

/** Engagement types, weakest first. */
export const ENGAGEMENT_TYPES = ['click', 'add_to_cart', 'purchase'] as const;
export type EngagementType = (typeof ENGAGEMENT_TYPES)[number];

export function timeOf(event: Pick<ShopperEvent, 'timestamp'>): number {
  const t = typeof event.timestamp === 'number' ? event.timestamp : Date.parse(event.timestamp);
  return Number.isFinite(t) ? t : NaN;
}

/** FNV-1a of a string (32-bit): deterministic session splits without randomness. */
export function fnv1a(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}
