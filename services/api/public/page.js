// The page itself: its elements, its state and the small DOM helpers every part of the page uses.

const $ = (id) => document.getElementById(id);
export const el = {
  status: $('index-status'),
  searchInfo: $('search-info'),
  empty: $('empty'),
  search: $('search'),
  dropzone: $('dropzone'),
  photo: $('photo'),
  k: $('k'),
  query: $('query'),
  examples: $('examples'),
  examplesHeading: $('examples-heading'),
  positiveList: $('positive-list'),
  negativeList: $('negative-list'),
  negativeNone: $('negative-none'),
  clearExamples: $('clear-examples'),
  queryImage: $('query-image'),
  queryCaption: $('query-caption'),
  queryMeta: $('query-meta'),
  uploadNote: $('upload-note'),
  cropStage: $('crop-stage'),
  cropBox: $('crop-box'),
  cropControls: $('crop-controls'),
  cropStatus: $('crop-status'),
  cropClear: $('crop-clear'),
  cropForm: $('crop-form'),
  cropInputs: { x: $('crop-x'), y: $('crop-y'), w: $('crop-w'), h: $('crop-h') },
  back: $('back'),
  filters: $('filters'),
  filtersActive: $('filters-active'),
  facetsNote: $('facets-note'),
  facets: $('facets'),
  clearFilters: $('clear-filters'),
  notice: $('notice'),
  error: $('error'),
  heading: $('results-heading'),
  summary: $('results-summary'),
  results: $('results'),
  pager: $('pager'),
  prev: $('prev'),
  next: $('next'),
  pageInfo: $('page-info'),
};

/**
 * Which metadata fields make a card's title, price and product link: comma-separated lists on <html>
 * (index.html), first field an item has wins, so a merchant adapts the page to a catalogue by editing
 * one tag instead of the scripts.
 */
function fieldList(name, fallback) {
  const value = document.documentElement.dataset[name];
  const list = (value ?? fallback)
    .split(',')
    .map((field) => field.trim())
    .filter(Boolean);
  return list;
}
export const FIELDS = {
  title: fieldList('titleFields', 'productDisplayName,name,title,displayName'),
  price: fieldList('priceFields', 'price'),
  url: fieldList('urlFields', 'url,link'),
  currency: (document.documentElement.dataset.currency || '').trim().toUpperCase(),
};
/** Fields a card shows in its own right rather than under "Details". */
export const PROMOTED_FIELDS = new Set([...FIELDS.title, ...FIELDS.price, ...FIELDS.url]);

export const DEFAULT_K = 24;

export const state = {
  index: null, // { version, count, model }
  facets: [], // [{ name, items, distinct, values: [{ value, count }] }] of the whole catalogue
  counts: null, // field → Map(value → count) in the current results; null: catalogue counts
  facetsVersion: null,
  filter: new Map(), // field → Set of values (values of one field ORed, fields ANDed)
  // { kind: 'upload', file, url, token, crop } | { kind: 'item', id, metadata, title }
  // | { kind: 'examples', positive: [example], negative: [example] }, an example being a catalogue
  // item { id, title } or the photo { upload: <the upload query>, title } (positive only, first)
  query: null,
  list: null, // the event context of the results on screen ({ sourceItemId } | { queryId }); null: catalogue
  offset: 0,
  seq: 0, // only the newest request may render
  started: false, // the address has been read (demo.js)
};

export const imageUrl = (id) => `/v1/items/${encodeURIComponent(id)}/image`;
export const k = () => Number(el.k.value) || DEFAULT_K;

export function make(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** `articleType` → `Article type`, `base_colour` → `Base colour`. */
export function humanize(field) {
  const words = field
    .replace(/_/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function firstField(metadata, fields) {
  for (const field of fields) {
    const value = metadata ? metadata[field] : undefined;
    if (value !== undefined && value !== null && String(value).trim() !== '') return String(value).trim();
  }
  return null;
}

export function titleOf(id, metadata) {
  return firstField(metadata, FIELDS.title) ?? `Item ${id}`;
}

/** `49.9` → `49.90` (or `€49.90` with data-currency="EUR"); a price that is not a number is shown as is. */
export function priceOf(metadata) {
  const raw = firstField(metadata, FIELDS.price);
  if (raw === null) return null;
  const number = Number(raw);
  if (!Number.isFinite(number)) return raw;
  if (FIELDS.currency) {
    try {
      return new Intl.NumberFormat('en', { style: 'currency', currency: FIELDS.currency }).format(number);
    } catch {
      // An unknown currency code: fall through to the plain number.
    }
  }
  return number.toFixed(2);
}

/** Only http(s) links: a `javascript:` URL in someone's catalogue must not become a link. */
export function productUrlOf(metadata) {
  const raw = firstField(metadata, FIELDS.url);
  if (raw === null) return null;
  try {
    const url = new URL(raw, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

export function showError(message) {
  el.error.textContent = message;
  el.error.hidden = !message;
}

/** A polite, non-error message (e.g. that a photo search could not be restored). */
export function showNotice(message) {
  el.notice.textContent = message;
  el.notice.hidden = !message;
}
