// The view in the address bar: `?item=<id>&k=<n>&page=<n>&f.<field>=<value>…` (a filter field repeated
// for each of its values; an examples search has `like=<id>` and `unlike=<id>`, each repeated, instead
// of `item`), so that Back restores the previous search and a shared link reproduces the view. An
// uploaded photo cannot be put in a URL: its history entry carries a token that finds the photo
// in memory while this page lives; after a reload or in a shared link it is gone (see queries.js).
import { DEFAULT_K, el, state } from './page.js';

const FILTER_PREFIX = 'f.';

/** The address of the current view (path and query string; a legacy `#item=` hash is dropped). */
export function urlOfState() {
  const params = new URLSearchParams();
  if (state.query && state.query.kind === 'item') params.set('item', state.query.id);
  if (state.query && state.query.kind === 'examples') {
    for (const example of state.query.positive) if (!example.upload) params.append('like', example.id);
    for (const example of state.query.negative) params.append('unlike', example.id);
  }
  if (Number(el.k.value) !== DEFAULT_K) params.set('k', el.k.value);
  if (!state.query && state.offset > 0)
    params.set('page', String(Math.floor(state.offset / Number(el.k.value)) + 1));
  for (const [field, values] of [...state.filter].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    for (const value of [...values].sort()) params.append(`${FILTER_PREFIX}${field}`, value);
  const search = params.toString();
  return `${location.pathname}${search ? `?${search}` : ''}`;
}

/** The photo of the view (a photo search, or an examples search that started from one), by its token. */
function entryOfState() {
  const query = state.query;
  if (query && query.kind === 'upload') return { upload: query.token };
  const photo = query && query.kind === 'examples' ? query.positive.find((example) => example.upload) : null;
  return { upload: photo ? photo.upload.token : null };
}

/** A new history entry for the view just chosen (no entry when nothing in it changed). */
export function pushView() {
  const url = urlOfState();
  const entry = entryOfState();
  const current = history.state || {};
  if (
    url === location.pathname + location.search + location.hash &&
    (current.upload ?? null) === entry.upload
  )
    return;
  history.pushState(entry, '', url);
}

/** The same history entry, brought up to date (a crop, a legacy address rewritten). */
export function replaceView() {
  history.replaceState(entryOfState(), '', urlOfState());
}

/**
 * What the address asks for: `{ item, like, unlike, k, page, filter, upload }`; `#item=<id>` (older
 * links) still works.
 */
export function readUrl() {
  const params = new URLSearchParams(location.search);
  const legacy = /^#item=(.+)$/.exec(location.hash);
  const filter = new Map();
  for (const [key, value] of params) {
    if (!key.startsWith(FILTER_PREFIX) || key.length === FILTER_PREFIX.length) continue;
    const field = key.slice(FILTER_PREFIX.length);
    if (!filter.has(field)) filter.set(field, new Set());
    filter.get(field).add(value);
  }
  const k = Number(params.get('k'));
  const page = Number(params.get('page'));
  const ids = (name) => [...new Set(params.getAll(name).filter(Boolean))];
  return {
    item: params.get('item') || (legacy ? decodeURIComponent(legacy[1]) : null),
    like: ids('like'),
    unlike: ids('unlike'),
    k: [...el.k.options].some((option) => Number(option.value) === k) ? k : DEFAULT_K,
    page: Number.isInteger(page) && page > 1 ? page : 1,
    filter,
    upload: (history.state && history.state.upload) || null,
  };
}
