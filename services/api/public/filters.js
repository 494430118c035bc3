// Filter chips: the grouping fields of GET /v1/index/fields, and the filter they make for the API.
import { api } from './api.js';
import { el, humanize, make, state } from './page.js';

const CHIPS_SHOWN = 10;

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
  // Drop filter values the catalogue no longer has.
  for (const [field, values] of state.filter) {
    const facet = state.facets.find((f) => f.name === field);
    if (!facet) state.filter.delete(field);
    else for (const v of values) if (!facet.values.some((fv) => fv.value === v)) values.delete(v);
    if (values.size === 0) state.filter.delete(field);
  }
  renderFacets();
}

/** A field is a useful filter when it groups items: several values, and not one value per item. */
function isFacet(field) {
  if (field.name.startsWith('_') || field.distinct < 2) return false;
  if (field.values.length === 0 || field.values[0].count < 2) return false;
  return field.distinct <= Math.max(12, field.items / 2);
}

function renderFacets() {
  el.filters.hidden = state.facets.length === 0;
  const groups = state.facets.map((facet) => {
    const active = state.filter.get(facet.name);
    const chips = facet.values.map((entry, i) => {
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
            dataset: { field: facet.name, value: entry.value },
          },
          entry.value,
          make('span', {
            class: 'chip-count',
            text: entry.count.toLocaleString('en'),
            'aria-hidden': 'true',
          }),
        ),
      );
    });
    const list = make('ul', { class: 'chips', role: 'list' }, ...chips);
    const more =
      facet.values.length > CHIPS_SHOWN
        ? make('button', {
            type: 'button',
            class: 'link-button more',
            'aria-expanded': 'false',
            text: `${facet.values.length - CHIPS_SHOWN} more`,
          })
        : null;
    return make(
      'fieldset',
      { class: 'facet', dataset: { field: facet.name } },
      make('legend', { text: humanize(facet.name) }),
      list,
      more,
    );
  });
  el.facets.replaceChildren(...groups);
  el.clearFilters.hidden = state.filter.size === 0;
}

/** Chip, "more" and "Clear filters" clicks; `onChange` shows the view again with the new filter. */
export function wireFilters(onChange) {
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
    el.clearFilters.hidden = state.filter.size === 0;
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
