// The views: the catalogue (GET /v1/items) or the results of the current query, and the index status
// above them (GET /v1/index), which brings a new catalogue version in by itself.
import { api } from './api.js';
import { card, showCards } from './cards.js';
import { filterParam, loadFacets } from './filters.js';
import { el, k, showError, state } from './page.js';

export async function refreshIndex() {
  let index = null;
  try {
    index = await api('/v1/index');
  } catch (err) {
    if (err.code === 'NO_SNAPSHOT') index = { version: 0, count: 0, model: null };
    else if (err.status === 401) {
      el.status.textContent =
        'This server needs an API key for reads (API_KEY_READS); the demo page cannot use it.';
      return;
    } else {
      el.status.textContent = `Index unavailable: ${err.message}`;
      return;
    }
  }
  const changed = !state.index || state.index.version !== index.version;
  state.index = index;
  const empty = index.count === 0;
  el.status.textContent = empty
    ? index.version
      ? `Index v${index.version} · 0 items`
      : 'No index yet'
    : `Index v${index.version} · ${index.count.toLocaleString('en')} item${index.count === 1 ? '' : 's'} · ${index.model}`;
  el.status.dataset.version = String(index.version);
  el.status.dataset.count = String(index.count);
  el.empty.hidden = !empty;
  el.search.hidden = empty;
  document.body.classList.toggle('is-empty', empty);
  if (empty) {
    el.filters.hidden = true;
    el.results.replaceChildren();
    el.pager.hidden = true;
    el.heading.textContent = 'Catalogue';
    el.summary.textContent = 'Nothing indexed yet.';
    return;
  }
  if (changed) {
    await loadFacets();
    // A new catalogue version: the catalogue view shows it; a search stays as it is.
    if (!state.query) await render();
  }
}

/** Shows the current view: the catalogue, or the results of the current query. */
export async function render() {
  const seq = ++state.seq;
  const current = () => seq === state.seq;
  showError('');
  el.results.setAttribute('aria-busy', 'true');
  const filter = filterParam();
  const started = performance.now();
  try {
    if (!state.query) {
      const params = new URLSearchParams({ limit: String(k()), offset: String(state.offset) });
      if (filter) params.set('filter', filter);
      const page = await api(`/v1/items?${params}`);
      if (!current()) return;
      el.heading.textContent = 'Catalogue';
      const from = page.total === 0 ? 0 : page.offset + 1;
      const to = page.offset + page.items.length;
      el.summary.textContent =
        page.total === 0
          ? 'No items match the filter.'
          : `Items ${from}–${to} of ${page.total.toLocaleString('en')}${filter ? ' matching the filter' : ''}. Pick one to find items like it.`;
      showCards(page.items.map((item) => card(item.id, item.metadata)));
      el.pager.hidden = page.total <= page.limit;
      el.prev.disabled = page.offset === 0;
      el.next.disabled = to >= page.total;
      el.pageInfo.textContent = `Page ${Math.floor(page.offset / page.limit) + 1} of ${Math.ceil(page.total / page.limit)}`;
      return;
    }
    let answer;
    if (state.query.kind === 'upload') {
      const form = new FormData();
      form.append('k', String(k()));
      if (filter) form.append('filter', filter);
      form.append('image', state.query.file, state.query.file.name || 'photo');
      answer = await api('/v1/similar', { method: 'POST', body: form });
    } else {
      const params = new URLSearchParams({ k: String(k()) });
      if (filter) params.set('filter', filter);
      answer = await api(`/v1/items/${encodeURIComponent(state.query.id)}/similar?${params}`);
    }
    if (!current()) return;
    const ms = Math.round(performance.now() - started);
    el.pager.hidden = true;
    el.heading.textContent =
      state.query.kind === 'upload' ? 'Most similar to your photo' : `Most similar to ${state.query.title}`;
    el.summary.textContent =
      answer.results.length === 0
        ? 'No items match the filter.'
        : `${answer.results.length} result${answer.results.length === 1 ? '' : 's'}, best first${
            // With the learned ranking the order also weighs catalogue labels, not the similarity alone.
            answer.results.some((hit) => hit.score !== hit.similarity)
              ? ' (by look and catalogue labels)'
              : ''
          } · index v${answer.indexVersion} · ${ms} ms`;
    showCards(answer.results.map((hit) => card(hit.id, hit.metadata, hit.similarity)));
  } catch (err) {
    if (!current()) return;
    el.results.setAttribute('aria-busy', 'false');
    if (err.code === 'NO_SNAPSHOT') return void refreshIndex();
    if (err.code === 'ITEM_NOT_FOUND' && state.query && state.query.kind === 'item') {
      showError(`Item ${state.query.id} is no longer in the catalogue.`);
      return;
    }
    showError(`Search failed: ${err.message}${err.code ? ` (${err.code})` : ''}`);
  }
}
