/**
 * Shopper events from the widget to the API's `POST /v1/events` (README "Shopper events"): only when
 * the element has the `events` attribute. Impressions go as one batch per rendered result list,
 * clicks one by one with `keepalive` so they survive the navigation the click starts. A failure never
 * reaches the shop page: it is retried once at most (same eventIds, so the server stores them once)
 * and then reported to the caller, which emits a `lookalike-error` event.
 *
 * The API's demo page posts its events with this module too: `pnpm build` also bundles it alone
 * (dist/events.js, served as /demo/shopper-events.js), so keep it free of DOM elements and globals
 * other than fetch, crypto and sessionStorage.
 */
import { WidgetError, type Endpoint } from './api';

/** Which result list an event is about: exactly one of the two (the API's event context). */
export type EventContext = { sourceItemId: string } | { queryId: string };

export interface ShopperEvent {
  eventId: string;
  type: 'impression' | 'click';
  itemId: string;
  context: EventContext;
  /** Zero-based position in the result list. */
  position: number;
  /** ISO 8601 in UTC, the browser's clock. */
  timestamp: string;
  sessionId: string;
}

export interface EventsEndpoint {
  /** The API's base URL, ending in `/`. */
  base: string;
  /** EVENTS_KEY (public by design: it can post events and nothing else), or null. */
  key: string | null;
}

/** The API's batch bound (EVENT_LIMITS.maxEventsPerBatch); a result list is at most 100 long anyway. */
const MAX_BATCH = 100;
/** Chromium refuses keepalive requests once 64 KiB of them are in flight: stay well under. */
const KEEPALIVE_MAX_BYTES = 32 * 1024;
/** The one retry waits this long, or the API's Retry-After up to RETRY_MAX_MS. */
const RETRY_DELAY_MS = 1000;
const RETRY_MAX_MS = 10_000;
const SESSION_KEY = 'lookalike-session';

/** A random UUIDv4: crypto.randomUUID where the page is a secure context, else getRandomValues. */
export function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = 0x40 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let pageSession: string | null = null;

/**
 * The opaque session token of this browser session: a random UUID kept in sessionStorage (per tab
 * and shop origin, gone when the tab closes; not a cookie, never sent anywhere but POST /v1/events),
 * so the events of one visit group together and nothing links two visits. Where sessionStorage is
 * unavailable (blocked storage), one token per page load.
 */
export function sessionId(): string {
  try {
    const stored = sessionStorage.getItem(SESSION_KEY);
    if (stored && /^[A-Za-z0-9_.:-]{8,128}$/.test(stored)) return stored;
    const fresh = randomId();
    sessionStorage.setItem(SESSION_KEY, fresh);
    return fresh;
  } catch {
    pageSession ??= randomId();
    return pageSession;
  }
}

/** Events of one list, stamped now, positions as given (zero-based). */
export function shopperEvents(
  type: ShopperEvent['type'],
  context: EventContext,
  items: ReadonlyArray<{ itemId: string; position: number }>,
): ShopperEvent[] {
  const timestamp = new Date().toISOString();
  const session = sessionId();
  return items.map(({ itemId, position }) => ({
    eventId: randomId(),
    type,
    itemId,
    context,
    position,
    timestamp,
    sessionId: session,
  }));
}

/** The events endpoint of a widget: its API, and `events-key` (else `api-key`) as the bearer key. */
export function eventsEndpoint(endpoint: Endpoint, eventsKey: string | null): EventsEndpoint {
  return { base: endpoint.base, key: eventsKey || endpoint.apiKey };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Worth one more try: no answer, the rate limit, or the server/Redis briefly unavailable. */
const transient = (status: number | null) => status === null || status === 429 || status >= 500;

/** One POST; resolves to the answer's status and Retry-After (ms), or status null when none came. */
async function postOnce(
  url: string,
  body: string,
  target: EventsEndpoint,
  keepalive: boolean,
): Promise<{
  status: number | null;
  retryAfterMs: number | null;
  rejected: number;
  firstCode: string | null;
}> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        ...(target.key ? { authorization: `Bearer ${target.key}` } : {}),
      },
      credentials: 'omit',
      mode: 'cors',
      keepalive,
    });
  } catch {
    return { status: null, retryAfterMs: null, rejected: 0, firstCode: null };
  }
  const seconds = Number(response.headers.get('retry-after'));
  const answer = (await response.json().catch(() => null)) as {
    rejected?: unknown;
    code?: unknown;
    rejections?: Array<{ code?: unknown }>;
  } | null;
  const rejected = typeof answer?.rejected === 'number' ? answer.rejected : 0;
  const code = answer?.rejections?.[0]?.code ?? answer?.code;
  return {
    status: response.status,
    retryAfterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : null,
    rejected,
    firstCode: typeof code === 'string' ? code : null,
  };
}

/**
 * Posts events in batches of at most 100, each retried once (the same body, so the same eventIds)
 * after no answer, a 429 or a 5xx. Rejects with a WidgetError (code EVENTS_FAILED) when a batch
 * was not stored, or was stored only in part (202 with refused events: their reasons in the message).
 */
export async function postEvents(
  target: EventsEndpoint,
  events: readonly ShopperEvent[],
  options: { keepalive: boolean },
): Promise<void> {
  const url = new URL('v1/events', target.base).href;
  for (let start = 0; start < events.length; start += MAX_BATCH) {
    const batch = events.slice(start, start + MAX_BATCH);
    const body = JSON.stringify({ events: batch });
    const keepalive = options.keepalive && body.length <= KEEPALIVE_MAX_BYTES;
    let outcome = await postOnce(url, body, target, keepalive);
    if (transient(outcome.status)) {
      await wait(Math.min(outcome.retryAfterMs ?? RETRY_DELAY_MS, RETRY_MAX_MS));
      outcome = await postOnce(url, body, target, keepalive);
    }
    const { status, rejected, firstCode } = outcome;
    if (status === 202 && rejected === 0) continue;
    const what = `${batch.length} ${batch[0]?.type ?? ''} event${batch.length === 1 ? '' : 's'}`;
    const why =
      status === null
        ? 'the API did not answer'
        : status === 202
          ? `${rejected} refused (${firstCode ?? 'EVENT_INVALID'})`
          : `HTTP ${status}${firstCode ? ` ${firstCode}` : ''}`;
    throw new WidgetError(status, 'EVENTS_FAILED', `Could not record ${what} at ${url}: ${why}`);
  }
}
