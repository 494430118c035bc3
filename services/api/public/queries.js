// Queries: by an uploaded photo or by a catalogue item (`#item=<id>` in the address bar), and the way
// back to the catalogue; plus the controls that change what the current view shows.
import { api } from './api.js';
import { TITLE_FIELDS, el, imageUrl, k, showError, state, titleOf } from './page.js';
import { render } from './views.js';

function showQuery(src, caption, meta) {
  if (el.queryImage.src !== src) el.queryImage.src = src;
  el.queryImage.alt = caption;
  el.queryCaption.textContent = caption;
  el.queryMeta.textContent = meta;
  el.query.hidden = false;
}

export function searchByPhoto(file) {
  if (!file) return;
  if (!file.type.startsWith('image/') && file.type !== '') {
    showError(`“${file.name}” is not an image.`);
    return;
  }
  if (state.query && state.query.kind === 'upload') URL.revokeObjectURL(state.query.url);
  const url = URL.createObjectURL(file);
  state.query = { kind: 'upload', file, url };
  // Leave an item in the address bar out of it (replaceState fires no hashchange).
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  showQuery(url, 'Your photo', file.name ? `${file.name} · ${Math.round(file.size / 1024)} kB` : '');
  void render().then(() => el.heading.focus({ preventScroll: false }));
}

export async function searchByItem(id, metadata) {
  if (!metadata) {
    try {
      metadata = (await api(`/v1/items/${encodeURIComponent(id)}`)).metadata;
    } catch (err) {
      showError(`Cannot show item ${id}: ${err.message}`);
      return;
    }
  }
  if (state.query && state.query.kind === 'upload') URL.revokeObjectURL(state.query.url);
  const title = titleOf(id, metadata);
  state.query = { kind: 'item', id, metadata, title };
  const facts = Object.entries(metadata)
    .filter(([field]) => !TITLE_FIELDS.includes(field) && !field.startsWith('_'))
    .map(([, value]) => value)
    .join(' · ');
  showQuery(imageUrl(id), title, `id ${id}${facts ? ` · ${facts}` : ''}`);
  await render();
  el.heading.focus({ preventScroll: false });
}

function backToCatalogue() {
  if (state.query && state.query.kind === 'upload') URL.revokeObjectURL(state.query.url);
  state.query = null;
  el.query.hidden = true;
  el.photo.value = '';
  if (location.hash) history.pushState(null, '', location.pathname + location.search);
  void render();
}

/** `#item=<id>` in the address bar: a result can be shared, and Back returns to the previous one. */
export function itemFromHash() {
  const match = /^#item=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

/** Result picks, Back (in the page and the browser), the result count and the catalogue pager. */
export function wireQueries() {
  el.results.addEventListener('click', (event) => {
    const pick = event.target.closest('button.card-pick');
    if (!pick) return;
    const id = pick.dataset.id;
    const metadata = JSON.parse(pick.closest('li.card').dataset.metadata || '{}');
    if (itemFromHash() === id) return void searchByItem(id, metadata);
    history.pushState(null, '', `#item=${encodeURIComponent(id)}`);
    void searchByItem(id, metadata);
  });

  window.addEventListener('popstate', () => {
    const id = itemFromHash();
    if (id) void searchByItem(id);
    else if (state.query && state.query.kind === 'item') backToCatalogue();
  });

  el.back.addEventListener('click', backToCatalogue);
  el.k.addEventListener('change', () => {
    state.offset = 0;
    void render();
  });
  el.prev.addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - k());
    void render();
  });
  el.next.addEventListener('click', () => {
    state.offset += k();
    void render();
  });
}
