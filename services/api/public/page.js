// The page itself: its elements, its state and the small DOM helpers every part of the page uses.

const $ = (id) => document.getElementById(id);
export const el = {
  status: $('index-status'),
  empty: $('empty'),
  search: $('search'),
  dropzone: $('dropzone'),
  photo: $('photo'),
  k: $('k'),
  query: $('query'),
  queryImage: $('query-image'),
  queryCaption: $('query-caption'),
  queryMeta: $('query-meta'),
  back: $('back'),
  filters: $('filters'),
  facets: $('facets'),
  clearFilters: $('clear-filters'),
  error: $('error'),
  heading: $('results-heading'),
  summary: $('results-summary'),
  results: $('results'),
  pager: $('pager'),
  prev: $('prev'),
  next: $('next'),
  pageInfo: $('page-info'),
};

/** Fields shown as a card's title, first present wins; otherwise the id. */
export const TITLE_FIELDS = ['productDisplayName', 'name', 'title', 'displayName'];

export const state = {
  index: null, // { version, count, model }
  facets: [], // [{ name, items, distinct, values: [{ value, count }] }]
  facetsVersion: null,
  filter: new Map(), // field → Set of values (values of one field ORed, fields ANDed)
  query: null, // { kind: 'upload', file, url } | { kind: 'item', id, metadata }
  offset: 0,
  seq: 0, // only the newest request may render
};

export const imageUrl = (id) => `/v1/items/${encodeURIComponent(id)}/image`;
export const k = () => Number(el.k.value) || 24;

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

export function titleOf(id, metadata) {
  for (const field of TITLE_FIELDS)
    if (metadata && metadata[field] !== undefined) return String(metadata[field]);
  return `Item ${id}`;
}

export function showError(message) {
  el.error.textContent = message;
  el.error.hidden = !message;
}
