// Queries: by an uploaded photo (optionally cropped) or by a catalogue item, the way back to the
// catalogue, and the address bar: every view a shopper chooses is a history entry (url-state.js), and
// Back or a shared link shows that view again.
import { api } from './api.js';
import { showCrop } from './crop.js';
import { recordClick } from './events.js';
import { MAX_EXAMPLES, currentExamples, itemExample, photoExample, showExamples } from './examples.js';
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
  el.examples.hidden = true;
  el.uploadNote.hidden = !(state.query && state.query.kind === 'upload');
  showCrop();
}

function hideQuery() {
  el.query.hidden = true;
  el.examples.hidden = true;
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

/** An examples search (POST /v1/recommend): the examples as chips instead of the query panel. */
function showExampleSearch(examples) {
  state.query = { kind: 'examples', positive: examples.positive, negative: examples.negative };
  el.query.hidden = true;
  showExamples();
}

/**
 * "More like this" (`positive`) or "Not like this" (`negative`) on a result: the item joins those
 * examples (leaving the other list if it was there), and the search runs again as a new history entry.
 */
export function addExample(kind, id, metadata) {
  const examples = currentExamples();
  const other = kind === 'positive' ? 'negative' : 'positive';
  if (examples[kind].some((example) => example.id === id)) return;
  if (examples[kind].length >= MAX_EXAMPLES) {
    showNotice(
      `At most ${MAX_EXAMPLES} examples on each side: remove one of “${kind === 'positive' ? 'More like' : 'Less like'}” first.`,
    );
    return;
  }
  showNotice('');
  examples[other] = examples[other].filter((example) => example.id !== id);
  examples[kind].push(itemExample(id, metadata));
  if (examples.positive.length === 0) return;
  showExampleSearch(examples);
  pushView();
  void render().then(focusResults);
}

function removeExample(kind, index) {
  const examples = currentExamples();
  examples[kind].splice(index, 1);
  if (examples.positive.length === 0) return;
  showExampleSearch(examples);
  // The chip and its button are gone: the keyboard goes on from the panel's heading.
  el.examplesHeading.focus();
  pushView();
  void render();
}

/** "Clear examples": back to the search the examples started from (their first positive). */
async function clearExamples() {
  const [first] = currentExamples().positive;
  if (!first) return backToCatalogue();
  showNotice('');
  if (first.upload) showUpload(first.upload);
  else if (!(await showItem(first.id, first.metadata))) return;
  pushView();
  await render();
  focusResults();
}

/** The examples of an address (`like`, `unlike`, and the photo when this page still holds it). */
async function showExamplesOf(photo, like, unlike) {
  const example = async (id) => {
    try {
      return itemExample(id, (await api(`/v1/items/${encodeURIComponent(id)}`)).metadata);
    } catch {
      // Searched with anyway: the answer says which example is gone (EXAMPLE_NOT_FOUND).
      return itemExample(id, {});
    }
  };
  const [positive, negative] = await Promise.all([
    Promise.all(like.slice(0, MAX_EXAMPLES - (photo ? 1 : 0)).map(example)),
    Promise.all(unlike.slice(0, MAX_EXAMPLES).map(example)),
  ]);
  if (photo) positive.unshift(photoExample(photo));
  if (positive.length === 0) return false;
  showExampleSearch({ positive, negative });
  return true;
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
  const photo = wanted.upload && uploads.has(wanted.upload) ? uploads.get(wanted.upload) : null;
  if (wanted.like.length > 0 || wanted.unlike.length > 0) {
    if (wanted.upload && !photo)
      showNotice(
        'The photo of that search is no longer here: photos are not kept in the address. Its other examples are.',
      );
    if (!(await showExamplesOf(photo, wanted.like, wanted.unlike))) {
      state.query = null;
      hideQuery();
    }
  } else if (photo) {
    showUpload(photo);
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

/**
 * Result picks (a click event for the list they are in), "More like this" / "Not like this" and the
 * examples' chips, Back (in the page and the browser), the result count and the catalogue pager.
 */
export function wireQueries() {
  el.results.addEventListener('click', (event) => {
    const target = event.target.closest('button.card-pick, button.feedback, a.card-link');
    if (!target) return;
    const li = target.closest('li.card');
    const id = li.dataset.id;
    const metadata = JSON.parse(li.dataset.metadata || '{}');
    if (target.matches('button.feedback')) return addExample(target.dataset.feedback, id, metadata);
    // Opening a result (its "more like this" search, or its product page): a click on that list.
    if (state.list && li.dataset.position !== undefined)
      recordClick(state.list, id, Number(li.dataset.position));
    if (target.matches('button.card-pick')) void searchByItem(id, metadata);
  });
  el.examples.addEventListener('click', (event) => {
    const remove = event.target.closest('button.example-remove');
    if (remove) removeExample(remove.dataset.kind, Number(remove.dataset.index));
  });
  el.clearExamples.addEventListener('click', () => void clearExamples());

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
