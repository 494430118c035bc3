import { ITEM_ID_PATTERN } from '@lookalike/contracts';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { QUERY_ID_PATTERN } from './query-id';

/**
 * The shopper-event contract: what a shop front end may post (`POST /v1/events`), its limits, and
 * the one validator the API runs on every event. The TypeBox schemas are the single source: the
 * API documents them in openapi.json and this module compiles them for validation.
 */

/** What a shopper did with an item of a result list, weakest signal first. */
export const EVENT_TYPES = ['impression', 'click', 'add_to_cart', 'purchase'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EVENT_LIMITS = {
  /** Events in one POST; a front end flushes its buffer at most this many at a time. */
  maxEventsPerBatch: 100,
  /** Result lists are at most MAX_K (100) long; pages of them add up, so allow far more. */
  maxPosition: 10_000,
  maxEventIdLength: 128,
  minSessionIdLength: 8,
  maxSessionIdLength: 128,
} as const;

/** Client-chosen, unique per event (a UUID is right); the idempotency key of a retried batch. */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/**
 * An opaque session id. Only letters, digits and `_ . : -`: no `@`, spaces or `+`, so e-mail
 * addresses, names and phone numbers in their usual forms are refused rather than stored; at least
 * 8 characters, so a random token fits and a small counter or a user number does not look valid.
 */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_.:-]{8,128}$/;
/** RFC 3339 date-time with a mandatory offset (`Z` or ±hh:mm); checked again with Date.parse. */
export const RFC3339_PATTERN = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

const ItemIdField = (description: string) =>
  Type.String({ pattern: ITEM_ID_PATTERN.source, description, examples: ['sku-15970'] });

export const SourceItemContextSchema = Type.Object(
  { sourceItemId: ItemIdField('The catalogue item whose "more like this" list the event is about.') },
  { additionalProperties: false, description: 'The result list of GET /v1/items/{sourceItemId}/similar.' },
);

export const QueryContextSchema = Type.Object(
  {
    queryId: Type.String({
      pattern: QUERY_ID_PATTERN.source,
      description: 'The `queryId` of the similar-items response the item was shown in.',
      examples: ['01938c6e-5a2b-7c3d-8e4f-0a1b2c3d4e5f'],
    }),
  },
  { additionalProperties: false, description: 'A result list named by its `queryId`.' },
);

export const EventContextSchema = Type.Union([SourceItemContextSchema, QueryContextSchema], {
  description: 'Which result list the item was shown in: exactly one of `sourceItemId` or `queryId`.',
});

export const ShopperEventSchema = Type.Object(
  {
    eventId: Type.String({
      pattern: EVENT_ID_PATTERN.source,
      description:
        'Unique id of this event, chosen by the client (a UUID). A batch re-sent after a timeout or 5xx ' +
        'is stored once: events whose id was seen before are counted as `duplicates`.',
      examples: ['6f1c1f5e-4d0b-4b8e-9a57-2f7f0a9a3c11'],
    }),
    type: Type.Union(
      [
        Type.Literal('impression'),
        Type.Literal('click'),
        Type.Literal('add_to_cart'),
        Type.Literal('purchase'),
      ],
      { description: 'impression (shown), click, add_to_cart or purchase.' },
    ),
    itemId: ItemIdField('The catalogue item the shopper saw, clicked, added or bought.'),
    context: EventContextSchema,
    position: Type.Integer({
      minimum: 0,
      maximum: EVENT_LIMITS.maxPosition,
      description: 'Zero-based position of the item in the result list.',
    }),
    timestamp: Type.String({
      pattern: RFC3339_PATTERN.source,
      maxLength: 40,
      description:
        'When it happened, RFC 3339 with an offset (`2026-12-07T10:15:00.123Z`). Refused when older than ' +
        'the server’s EVENTS_MAX_AGE or further ahead of its clock than EVENTS_MAX_FUTURE.',
    }),
    sessionId: Type.String({
      pattern: SESSION_ID_PATTERN.source,
      description:
        'An opaque, rotating session token (8–128 characters of A–Z a–z 0–9 _ . : -) that groups one ' +
        'shopper’s events. NEVER personal data: no user or customer id, e-mail, name, IP address or ' +
        'anything that identifies a person; generate a random one per browsing session.',
      examples: ['s_5m2q8x1k9w'],
    }),
  },
  { additionalProperties: false, description: 'One shopper interaction with an item of a result list.' },
);
export type ShopperEvent = Static<typeof ShopperEventSchema>;

export const EventBatchSchema = Type.Object(
  {
    events: Type.Array(ShopperEventSchema, {
      minItems: 1,
      maxItems: EVENT_LIMITS.maxEventsPerBatch,
      description: `1–${EVENT_LIMITS.maxEventsPerBatch} events.`,
    }),
  },
  { additionalProperties: false, description: 'A batch of shopper events.' },
);

/** Why an event was refused: stable codes, also the `reason` label of the rejection metric (lower case). */
export const EVENT_REJECTIONS = ['EVENT_INVALID', 'TIMESTAMP_TOO_OLD', 'TIMESTAMP_IN_FUTURE'] as const;
export type EventRejectionCode = (typeof EVENT_REJECTIONS)[number];

export interface EventRejection {
  /** Index of the event in the batch. */
  index: number;
  code: EventRejectionCode;
  /** JSON pointer into the event (`/timestamp`, `/context`); `` for the whole event. */
  path: string;
  message: string;
}

/** How far from the server's clock an event's timestamp may be. */
export interface TimeWindow {
  /** Older than now − maxAgeMs: refused (TIMESTAMP_TOO_OLD). */
  maxAgeMs: number;
  /** Later than now + maxFutureMs: refused (TIMESTAMP_IN_FUTURE); allows for client clock skew. */
  maxFutureMs: number;
}

/** An event that passed validation, with its timestamp read once (epoch ms). */
export interface ValidEvent {
  index: number;
  event: ShopperEvent;
  timestampMs: number;
}

export interface BatchValidation {
  valid: ValidEvent[];
  rejected: EventRejection[];
}

const checkEvent = TypeCompiler.Compile(ShopperEventSchema);

/** A batch envelope that is not `{ events: [1..max objects] }`: the whole request is refused. */
export class EventBatchError extends Error {
  constructor(
    message: string,
    /** JSON pointer into the body (`/events`, ``). */
    readonly path: string,
  ) {
    super(message);
    this.name = 'EventBatchError';
  }
}

/** The context's own message: TypeBox's for a union ("Expected union value") says nothing useful. */
function contextProblem(context: unknown): string | null {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) return 'must be an object';
  const keys = Object.keys(context);
  const hasSource = keys.includes('sourceItemId');
  const hasQuery = keys.includes('queryId');
  if (hasSource === hasQuery) return 'needs exactly one of sourceItemId or queryId';
  const extra = keys.filter((key) => key !== 'sourceItemId' && key !== 'queryId');
  if (extra.length > 0) return `has unknown field ${extra[0]}`;
  const value = (context as Record<string, unknown>)[hasSource ? 'sourceItemId' : 'queryId'];
  if (hasSource && (typeof value !== 'string' || !ITEM_ID_PATTERN.test(value)))
    return 'sourceItemId is not a valid item id (1–128 characters of A–Z a–z 0–9 _ . : -)';
  if (hasQuery && (typeof value !== 'string' || !QUERY_ID_PATTERN.test(value)))
    return 'queryId is not a query id issued by this API';
  return null;
}

/**
 * Validates one event against the contract and the time window; `now` is the server's clock (epoch
 * ms). Returns the rejection, or the event with its timestamp in epoch ms.
 */
export function validateEvent(
  raw: unknown,
  index: number,
  now: number,
  window: TimeWindow,
): ValidEvent | EventRejection {
  const invalid = (path: string, message: string): EventRejection => ({
    index,
    code: 'EVENT_INVALID',
    path,
    message,
  });
  if (!checkEvent.Check(raw)) {
    const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : null;
    const problem = record && 'context' in record ? contextProblem(record.context) : null;
    const first = checkEvent.Errors(raw).First();
    // A context error is reported by its own words; any other field by TypeBox's first error.
    if (problem && (!first || first.path.startsWith('/context'))) return invalid('/context', problem);
    if (!first) return invalid('', 'is not a valid event');
    return invalid(first.path, first.message);
  }
  const timestampMs = Date.parse(raw.timestamp);
  if (!Number.isFinite(timestampMs)) return invalid('/timestamp', 'is not a valid date-time');
  if (timestampMs < now - window.maxAgeMs) {
    return {
      index,
      code: 'TIMESTAMP_TOO_OLD',
      path: '/timestamp',
      message: `is more than ${Math.round(window.maxAgeMs / 1000)} s in the past`,
    };
  }
  if (timestampMs > now + window.maxFutureMs) {
    return {
      index,
      code: 'TIMESTAMP_IN_FUTURE',
      path: '/timestamp',
      message: `is more than ${Math.round(window.maxFutureMs / 1000)} s ahead of the server clock`,
    };
  }
  return { index, event: raw, timestampMs };
}

/**
 * Reads a request body as a batch: the envelope must be `{ events: [...] }` with 1 to
 * EVENT_LIMITS.maxEventsPerBatch entries (else EventBatchError: the client is broken, nothing is
 * stored). Each event is then judged on its own, so one stale or malformed event does not cost the
 * others: `valid` are to be stored, `rejected` say which were refused and why.
 */
export function validateBatch(body: unknown, now: number, window: TimeWindow): BatchValidation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new EventBatchError('the body must be an object { events: [...] }', '');
  }
  const extra = Object.keys(body).filter((key) => key !== 'events');
  if (extra.length > 0) throw new EventBatchError('is not allowed', `/${extra[0]}`);
  const events = (body as { events?: unknown }).events;
  if (!Array.isArray(events)) throw new EventBatchError('must be an array of events', '/events');
  if (events.length < 1 || events.length > EVENT_LIMITS.maxEventsPerBatch) {
    throw new EventBatchError(`must hold 1–${EVENT_LIMITS.maxEventsPerBatch} events`, '/events');
  }
  const valid: ValidEvent[] = [];
  const rejected: EventRejection[] = [];
  events.forEach((raw, index) => {
    const outcome = validateEvent(raw, index, now, window);
    if ('code' in outcome) rejected.push(outcome);
    else valid.push(outcome);
  });
  return { valid, rejected };
}

/** The metric label of a rejection code (`TIMESTAMP_TOO_OLD` → `too_old`). */
export function rejectionReason(code: EventRejectionCode): 'invalid' | 'too_old' | 'in_future' {
  switch (code) {
    case 'EVENT_INVALID':
      return 'invalid';
    case 'TIMESTAMP_TOO_OLD':
      return 'too_old';
    case 'TIMESTAMP_IN_FUTURE':
      return 'in_future';
  }
}
