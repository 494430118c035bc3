// Queries: by an uploaded photo (optionally cropped) or by a catalogue item, the way back to the
// catalogue, and the address bar: every view a shopper chooses is a history entry (url-state.js), and
// Back or a shared link shows that view again.
import { api } from './api.js';
import { showCrop } from './crop.js';
import { pruneFilter, renderFacets } from './filters.js';
import { PROMOTED_FIELDS, el, imageUrl, k, showError, showNotice, state, titleOf } from './page.js';
import { pushView, readUrl, replaceView } from './url-state.js';
import { render } from './views.js';

/**
 * Photos searched with in this page's life, by history token, so that Back and Forward can return to a
 * photo search. A URL cannot carry a photo: after a reload or in a shared link the photo is gone.
 */
const uploads = new Map();
const UPLOADS_KEPT = 10;
let uploadCount = 0;

function showQuery(src, caption, meta) {
  if (el.queryImage.getAttribute('src') !== src) el.queryImage.src = src;
  el.queryImage.alt = caption;
  el.queryCaption.textContent = caption;
  el.queryMeta.textContent = meta;
  el.query.hidden = false;
  el.uploadNote.hidden = !(state.query && state.query.kind === 'upload');
  showCrop();
}

function hideQuery() {
  el.query.hidden = true;
  el.photo.value = '';
}

function focusResults() {
  el.heading.focus({ preventScroll: false });
}

function showUpload(query) {
  state.query = query;
  const { file } = query;
  showQuery(query.url, 'Your photo', file.name ? `${file.name} · ${Math.round(file.size / 1024)} kB` : '');
}

export function searchByPhoto(file) {
  if (!file) return;
  if (!file.type.startsWith('image/') && file.type !== '') {
    showError(`“${file.name}” is not an image.`);
    return;
  }
  showNotice('');
  const token = `upload-${Date.now().toString(36)}-${++uploadCount}`;
  uploads.set(token, { kind: 'upload', file, url: URL.createObjectURL(file), token, crop: null });
  // Keep the last few photos for Back/Forward; older ones give their memory back.
  for (const [old, query] of uploads) {
    if (uploads.size <= UPLOADS_KEPT) break;
    URL.revokeObjectURL(query.url);
    uploads.delete(old);
  }
  showUpload(uploads.get(token));
  pushView();
  void render().then(focusResults);
}

/** A new crop (or none) on the current photo: same history entry, new results. */
export function cropPhoto(crop) {
  if (!state.query || state.query.kind !== 'upload') return;
  state.query.crop = crop;
  showCrop();
  replaceView();
  void render();
}

async function showItem(id, metadata) {
  if (!metadata) {
    try {
      metadata = (await api(`/v1/items/${encodeURIComponent(id)}`)).metadata;
    } catch (err) {
      showError(`Cannot show item ${id}: ${err.message}`);
      return false;
    }
  }
  const title = titleOf(id, metadata);
  state.query = { kind: 'item', id, metadata, title };
  const facts = Object.entries(metadata)
    .filter(([field]) => !PROMOTED_FIELDS.has(field) && !field.startsWith('_'))
    .map(([, value]) => value)
    .join(' · ');
  showQuery(imageUrl(id), title, `id ${id}${facts ? ` · ${facts}` : ''}`);
  return true;
}

/** Searches by a catalogue item picked on the page (a new history entry). */
export async function searchByItem(id, metadata) {
  showNotice('');
  if (!(await showItem(id, metadata))) return;
  pushView();
  await render();
  focusResults();
}

function backToCatalogue() {
  state.query = null;
  state.offset = 0;
  hideQuery();
  showNotice('');
  pushView();
  void render();
}

/**
 * Shows the view the address asks for (at start, and on Back/Forward): item, filters, k and page from
 * the URL; a photo search from memory when this page still holds it, otherwise a notice.
 */
export async function applyUrl() {
  const wanted = readUrl();
  el.k.value = String(wanted.k);
  state.filter = wanted.filter;
  pruneFilter();
  state.offset = (wanted.page - 1) * wanted.k;
  renderFacets();
  showNotice('');
  if (wanted.upload && uploads.has(wanted.upload)) {
    showUpload(uploads.get(wanted.upload));
  } else if (wanted.item) {
    if (!(await showItem(wanted.item))) {
      state.query = null;
      hideQuery();
    }
  } else {
    if (wanted.upload)
      showNotice(
        'The photo of that search is no longer here: photos are not kept in the address. Choose it again to search with it.',
      );
    state.query = null;
    hideQuery();
  }
  // An address in an older form (`#item=`) or with values the page does not know is written as it is now.
  replaceView();
  await render();
}

/** Result picks, Back (in the page and the browser), the result count and the catalogue pager. */
export function wireQueries() {
  el.results.addEventListener('click', (event) => {
    const pick = event.target.closest('button.card-pick');
    if (!pick) return;
    const id = pick.dataset.id;
    const metadata = JSON.parse(pick.closest('li.card').dataset.metadata || '{}');
    void searchByItem(id, metadata);
  });

  window.addEventListener('popstate', () => void applyUrl());

  el.back.addEventListener('click', backToCatalogue);
  el.k.addEventListener('change', () => {
    state.offset = 0;
    pushView();
    void render();
  });
  el.prev.addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - k());
    pushView();
    void render();
  });
  el.next.addEventListener('click', () => {
    state.offset += k();
    pushView();
    void render();
  });
}
