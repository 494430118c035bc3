// The views: the catalogue (GET /v1/items) or the results of the current query, and the index status
// in the footer (GET /v1/index), which brings a new catalogue version in by itself.
import { api } from './api.js';
import { card, showCards } from './cards.js';
import { cropParam } from './crop.js';
import { recordImpressions } from './events.js';
import { recommendBody } from './examples.js';
import { countResults, filterParam, loadFacets } from './filters.js';
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
  const text = empty
    ? index.version
      ? `Index v${index.version} · 0 items`
      : 'No index yet'
    : `Index v${index.version} · ${index.count.toLocaleString('en')} item${index.count === 1 ? '' : 's'} · ${index.model}`;
  // Unchanged text is not written again: a live region would announce it every poll.
  if (el.status.textContent !== text) el.status.textContent = text;
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
    // A new catalogue version: the catalogue view shows it; a search stays as it is. Before the page
    // has read its address (state.started), demo.js renders the view the address asks for instead.
    if (!state.query && state.started) await render();
  }
}

function headingOf(query) {
  if (query.kind === 'item') return `Most similar to ${query.title}`;
  if (query.kind === 'examples')
    return query.negative.length > 0
      ? 'More like your examples, less like the others'
      : 'More like your examples';
  return query.crop ? 'Most similar to the marked area of your photo' : 'Most similar to your photo';
}

/**
 * Marks the end of a render (results or error) with its sequence number: a script or test driving the
 * page waits for a number above the one it saw, which a stale view can never show.
 */
function rendered(seq) {
  el.results.dataset.rendered = String(seq);
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
      state.list = null;
      const from = page.total === 0 ? 0 : page.offset + 1;
      const to = page.offset + page.items.length;
      el.summary.textContent =
        page.total === 0
          ? 'No items match the filter.'
          : `Items ${from}–${to} of ${page.total.toLocaleString('en')}${filter ? ' matching the filter' : ''}. Pick one to find items like it.`;
      showCards(page.items.map((item) => card(item.id, item.metadata)));
      // Unfiltered, the catalogue view's results are the whole catalogue: the index's counts. Filtered,
      // the items on screen give exact counts when they are all the matches; otherwise the counts stay
      // the catalogue's (and the note under "Filters" says so).
      countResults(filter && page.total <= page.items.length ? page.items : null);
      el.pager.hidden = page.total <= page.limit;
      el.prev.disabled = page.offset === 0;
      el.next.disabled = to >= page.total;
      el.pageInfo.textContent = `Page ${Math.floor(page.offset / page.limit) + 1} of ${Math.ceil(page.total / page.limit)}`;
      rendered(seq);
      return;
    }
    let answer;
    const query = state.query;
    if (query.kind === 'upload') {
      const form = new FormData();
      form.append('k', String(k()));
      if (filter) form.append('filter', filter);
      if (query.crop) form.append('crop', cropParam(query.crop));
      form.append('image', query.file, query.file.name || 'photo');
      answer = await api('/v1/similar', { method: 'POST', body: form });
    } else if (query.kind === 'examples') {
      answer = await api('/v1/recommend', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(await recommendBody(query, k(), filter)),
      });
    } else {
      const params = new URLSearchParams({ k: String(k()) });
      if (filter) params.set('filter', filter);
      answer = await api(`/v1/items/${encodeURIComponent(query.id)}/similar?${params}`);
    }
    if (!current()) return;
    const ms = Math.round(performance.now() - started);
    el.pager.hidden = true;
    el.heading.textContent = headingOf(query);
    const n = answer.results.length;
    el.summary.textContent =
      n === 0
        ? filter
          ? 'No items match the filter.'
          : 'No similar items found.'
        : `${n} similar item${n === 1 ? '' : 's'}, best first${filter ? ', filtered' : ''}.`;
    // The list's name for shopper events: the item of a by-id search, else the answer's queryId.
    state.list = query.kind === 'item' ? { sourceItemId: query.id } : { queryId: answer.queryId };
    showCards(
      answer.results.map((hit, position) =>
        card(hit.id, hit.metadata, hit.similarity, { position, feedback: true }),
      ),
    );
    recordImpressions(
      state.list,
      answer.results.map((hit) => hit.id),
    );
    countResults(answer.results);
    // Technical facts for whoever evaluates the search go to the footer, not the shop's view.
    el.searchInfo.textContent = `Last search: index v${answer.indexVersion} · ${answer.model} · ${ms} ms${
      // With the learned ranking the order also weighs catalogue labels, not the similarity alone.
      answer.results.some((hit) => hit.score !== hit.similarity)
        ? ' · ranked by look and catalogue labels'
        : ''
    } · query ${answer.queryId}`;
    el.searchInfo.dataset.queryId = answer.queryId;
    rendered(seq);
  } catch (err) {
    if (!current()) return;
    el.results.setAttribute('aria-busy', 'false');
    rendered(seq);
    if (err.code === 'NO_SNAPSHOT') return void refreshIndex();
    if (err.code === 'ITEM_NOT_FOUND' && state.query && state.query.kind === 'item') {
      showError(`Item ${state.query.id} is no longer in the catalogue.`);
      return;
    }
    if (err.code === 'EXAMPLE_NOT_FOUND') {
      showError('An example is no longer in the catalogue: remove it, or clear the examples.');
      return;
    }
    if (err.code === 'DEGENERATE_QUERY') {
      showError('These examples cancel each other out: remove one of them.');
      return;
    }
    if (err.code === 'INVALID_CROP') {
      showError('That area is too small to search with: draw a larger box, or clear the crop.');
      return;
    }
    showError(`Search failed: ${err.message}${err.code ? ` (${err.code})` : ''}`);
  }
}
