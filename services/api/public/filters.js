// Filter chips: the grouping fields of GET /v1/index/fields, counted in the results on screen (in the
// catalogue view, in the whole catalogue), and the filter they make for the API. They live in a
// disclosure that is open on wide screens and folded on phones, so the results come first there.
import { api } from './api.js';
import { el, humanize, make, state } from './page.js';

const CHIPS_SHOWN = 10;
const WIDE = '(min-width: 761px)';

/** The active filter as the API's JSON form, or null. */
export function filterParam() {
  if (state.filter.size === 0) return null;
  const filter = {};
  for (const [field, values] of state.filter) filter[field] = [...values];
  return JSON.stringify(filter);
}

export async function loadFacets() {
  try {
    const info = await api('/v1/index/fields');
    state.facets = info.fields.filter(isFacet);
    state.facetsVersion = info.indexVersion;
  } catch {
    state.facets = [];
  }
  pruneFilter();
  renderFacets();
}

/** Drops filter values the catalogue no longer has (also those of a stale or hand-edited link). */
export function pruneFilter() {
  for (const [field, values] of state.filter) {
    const facet = state.facets.find((f) => f.name === field);
    if (!facet) state.filter.delete(field);
    else for (const v of values) if (!facet.values.some((fv) => fv.value === v)) values.delete(v);
    if (values.size === 0) state.filter.delete(field);
  }
}

/** A field is a useful filter when it groups items: several values, and not one value per item. */
function isFacet(field) {
  if (field.name.startsWith('_') || field.distinct < 2) return false;
  if (field.values.length === 0 || field.values[0].count < 2) return false;
  return field.distinct <= Math.max(12, field.items / 2);
}

/**
 * Counts of the facet values among the results on screen (`null`: the catalogue view, whose counts are
 * those of GET /v1/index/fields).
 */
export function countResults(items) {
  if (items === null) {
    state.counts = null;
  } else {
    state.counts = new Map();
    for (const facet of state.facets) {
      const counts = new Map();
      for (const item of items) {
        const value = item.metadata ? item.metadata[facet.name] : undefined;
        if (value === undefined || value === null) continue;
        counts.set(String(value), (counts.get(String(value)) || 0) + 1);
      }
      state.counts.set(facet.name, counts);
    }
  }
  renderFacets();
}

/** The values a facet shows with their counts: every catalogue value, or those in the results. */
function valuesOf(facet) {
  const active = state.filter.get(facet.name);
  if (!state.counts) return facet.values;
  const counts = state.counts.get(facet.name) || new Map();
  // Values in the results, most frequent first; an active value stays (count 0) so it can be undone.
  return facet.values
    .map((entry) => ({ value: entry.value, count: counts.get(entry.value) || 0 }))
    .filter((entry) => entry.count > 0 || (active && active.has(entry.value)))
    .sort((a, b) => b.count - a.count);
}

function renderFacets() {
  // The chips are rebuilt with new counts after every search: keep the keyboard focus on the same chip.
  const focused = document.activeElement && document.activeElement.closest('#facets button.chip');
  const refocus = focused ? { ...focused.dataset } : null;
  el.filters.hidden = state.facets.length === 0;
  const groups = [];
  for (const facet of state.facets) {
    const active = state.filter.get(facet.name);
    const values = valuesOf(facet);
    if (values.length === 0) continue;
    const chips = values.map((entry, i) => {
      const pressed = Boolean(active && active.has(entry.value));
      return make(
        'li',
        { hidden: i >= CHIPS_SHOWN && !pressed, class: i >= CHIPS_SHOWN ? 'extra' : undefined },
        make(
          'button',
          {
            type: 'button',
            class: 'chip',
            'aria-pressed': String(pressed),
            dataset: { field: facet.name, value: entry.value, count: String(entry.count) },
          },
          entry.value,
          make('span', { class: 'chip-count', text: entry.count.toLocaleString('en') }),
        ),
      );
    });
    const list = make('ul', { class: 'chips', role: 'list' }, ...chips);
    const more =
      values.length > CHIPS_SHOWN
        ? make('button', {
            type: 'button',
            class: 'link-button more',
            'aria-expanded': 'false',
            text: `${values.length - CHIPS_SHOWN} more`,
          })
        : null;
    groups.push(
      make(
        'fieldset',
        { class: 'facet', dataset: { field: facet.name } },
        make('legend', { text: humanize(facet.name) }),
        list,
        more,
      ),
    );
  }
  el.facets.replaceChildren(...groups);
  if (refocus) {
    const same = [...el.facets.querySelectorAll('button.chip')].find(
      (chip) => chip.dataset.field === refocus.field && chip.dataset.value === refocus.value,
    );
    (same || el.filters.querySelector('summary')).focus();
  }
  el.facetsNote.textContent = state.counts
    ? 'Counts are for the results shown.'
    : state.filter.size
      ? 'Counts are for the whole catalogue, before filtering.'
      : 'Counts are for the whole catalogue.';
  const active = [...state.filter.values()].reduce((n, values) => n + values.size, 0);
  el.filtersActive.textContent = active ? `${active} active` : '';
  el.clearFilters.hidden = active === 0;
}

/** Chip, "more" and "Clear filters" clicks; `onChange` shows the view again with the new filter. */
export function wireFilters(onChange) {
  // Open on wide screens (the sidebar has room), folded on phones; the shopper may toggle it either way.
  const wide = window.matchMedia(WIDE);
  el.filters.open = wide.matches;
  wide.addEventListener('change', () => (el.filters.open = wide.matches));

  el.facets.addEventListener('click', (event) => {
    const more = event.target.closest('button.more');
    if (more) {
      const open = more.getAttribute('aria-expanded') !== 'true';
      more.setAttribute('aria-expanded', String(open));
      more.textContent = open
        ? 'fewer'
        : `${more.closest('fieldset').querySelectorAll('li.extra').length} more`;
      for (const li of more.closest('fieldset').querySelectorAll('li.extra')) {
        if (li.querySelector('[aria-pressed="true"]')) continue;
        li.hidden = !open;
      }
      return;
    }
    const chip = event.target.closest('button.chip');
    if (!chip) return;
    const { field, value } = chip.dataset;
    const values = state.filter.get(field) || new Set();
    if (values.has(value)) values.delete(value);
    else values.add(value);
    if (values.size) state.filter.set(field, values);
    else state.filter.delete(field);
    chip.setAttribute('aria-pressed', String(values.has(value)));
    state.offset = 0;
    void onChange();
  });

  el.clearFilters.addEventListener('click', () => {
    state.filter.clear();
    state.offset = 0;
    renderFacets();
    void onChange();
  });
}

export { renderFacets };
