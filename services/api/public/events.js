// Shopper events from the demo page to POST /v1/events (README "Demo page"): an impression for each
// result of a result list when it is shown, a click when a shopper opens a result. Events are built and
// posted by the widget's own code (packages/widget/src/events.ts, served as /demo/shopper-events.js):
// the same opaque session token in sessionStorage, the same one retry. Here they are only buffered and
// flushed as one batch about a second after the last one, or at once (keepalive) when the page is
// hidden or left. Nothing here may break the page: a failure is logged with console.debug and dropped.
//
// The server says how to post them in <meta> tags (services/api/src/routes/demo.ts): the events key
// (EVENTS_KEY, public by design) or "off" when only API_KEY could post them, which a page must not hold.

const FLUSH_MS = 1000;

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? null;
const KEY = meta('lookalike-events-key');
let enabled = meta('lookalike-events') !== 'off';

/** The widget's event module once loaded (null: it could not be, and events are off). */
let shared;
let loading = null;
/** Events recorded, not yet posted: `{ type, context, items: [{ itemId, position }], timestamp }`. */
let pending = [];
let timer = null;

function load() {
  loading ??= import('./shopper-events.js').then(
    (module) => (shared = module),
    (err) => {
      console.debug('lookalike demo: shopper events are off (no /demo/shopper-events.js)', err);
      enabled = false;
      return (shared = null);
    },
  );
  return loading;
}

/** Starts loading the event code early, so that a flush on leaving the page finds it ready. */
export function startEvents() {
  if (enabled) void load();
}

function send(keepalive) {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  if (!enabled || !shared || pending.length === 0) return;
  const records = pending;
  pending = [];
  const events = records.flatMap(({ type, context, items, timestamp }) =>
    shared.shopperEvents(type, context, items).map((event) => ({ ...event, timestamp })),
  );
  const target = { base: new URL('/', location.href).href, key: KEY };
  shared.postEvents(target, events, { keepalive }).catch((err) => {
    // A refused key will not be accepted on the next batch either.
    if (err && (err.status === 401 || err.status === 403)) enabled = false;
    console.debug('lookalike demo: shopper events not recorded', err);
  });
}

/** Posts what is buffered now (`keepalive` when the page is going away), once the code is loaded. */
export function flushEvents(keepalive = false) {
  if (shared !== undefined) send(keepalive);
  else if (enabled) void load().then(() => send(keepalive));
}

function record(type, context, items) {
  if (!enabled || !context || items.length === 0) return;
  pending.push({ type, context, items, timestamp: new Date().toISOString() });
  if (timer === null) timer = setTimeout(() => flushEvents(), FLUSH_MS);
}

/**
 * A result list on screen: one impression per result, at its zero-based position. `context` is
 * `{ sourceItemId }` (a by-id search) or `{ queryId }` (the answer's, for photos and examples).
 */
export function recordImpressions(context, itemIds) {
  record(
    'impression',
    context,
    itemIds.map((itemId, position) => ({ itemId, position })),
  );
}

/** A shopper opened the result at `position` of the list named by `context`. */
export function recordClick(context, itemId, position) {
  record('click', context, [{ itemId, position }]);
}

// Leaving or hiding the page: what is buffered goes now, with keepalive so that it survives unloading.
window.addEventListener('pagehide', () => flushEvents(true));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') flushEvents(true);
});
