// The lookalike demo page: plain JavaScript against the public API, no framework, no build step.
// Views: the catalogue (GET /v1/items), similar to an uploaded photo (POST /v1/similar, multipart)
// and similar to an item (GET /v1/items/{id}/similar); filter chips come from GET /v1/index/fields.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
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
  const TITLE_FIELDS = ['productDisplayName', 'name', 'title', 'displayName'];
  const CHIPS_SHOWN = 10;
  const STATUS_POLL_MS = 5000;

  const state = {
    index: null, // { version, count, model }
    facets: [], // [{ name, items, distinct, values: [{ value, count }] }]
    facetsVersion: null,
    filter: new Map(), // field → Set of values (values of one field ORed, fields ANDed)
    query: null, // { kind: 'upload', file, url } | { kind: 'item', id, metadata }
    offset: 0,
    seq: 0, // only the newest request may render
  };

  // ---------------------------------------------------------------- API
  async function api(path, init) {
    let response;
    try {
      response = await fetch(path, { ...init, headers: { accept: 'application/json', ...init?.headers } });
    } catch (err) {
      throw Object.assign(new Error(`The server did not answer (${err.message})`), { code: 'NETWORK' });
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
      throw Object.assign(new Error(detail), { status: response.status, code: body && body.code });
    }
    return body;
  }

  const imageUrl = (id) => `/v1/items/${encodeURIComponent(id)}/image`;
  const k = () => Number(el.k.value) || 24;

  /** The active filter as the API's JSON form, or null. */
  function filterParam() {
    if (state.filter.size === 0) return null;
    const filter = {};
    for (const [field, values] of state.filter) filter[field] = [...values];
    return JSON.stringify(filter);
  }

  // ---------------------------------------------------------------- helpers
  function make(tag, props = {}, ...children) {
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
  function humanize(field) {
    const words = field
      .replace(/_/g, ' ')
      .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
      .trim()
      .toLowerCase();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function titleOf(id, metadata) {
    for (const field of TITLE_FIELDS)
      if (metadata && metadata[field] !== undefined) return String(metadata[field]);
    return `Item ${id}`;
  }

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = !message;
  }

  // ---------------------------------------------------------------- index status and facets
  async function refreshIndex() {
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

  async function loadFacets() {
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
    void render();
  });

  el.clearFilters.addEventListener('click', () => {
    state.filter.clear();
    state.offset = 0;
    renderFacets();
    void render();
  });

  // ---------------------------------------------------------------- results
  /** `similarity` is the cosine similarity shown on the card (the order may also weigh labels). */
  function card(id, metadata, similarity) {
    const title = titleOf(id, metadata);
    const img = make('img', {
      src: imageUrl(id),
      alt: title,
      loading: 'lazy',
      decoding: 'async',
      width: '192',
      height: '256',
    });
    img.addEventListener(
      'error',
      () => img.replaceWith(make('span', { class: 'no-image', text: 'No image' })),
      {
        once: true,
      },
    );
    const pick = make(
      'button',
      { type: 'button', class: 'card-pick', dataset: { id } },
      make('span', { class: 'visually-hidden', text: 'Find items like this: ' }),
      img,
    );
    const facts = make('dl', { class: 'facts' });
    const shown = new Set(TITLE_FIELDS);
    for (const [field, value] of Object.entries(metadata || {})) {
      if (shown.has(field) || field.startsWith('_')) continue;
      facts.append(
        make(
          'div',
          {},
          make('dt', { text: humanize(field) }),
          make('dd', { text: String(value), title: String(value) }),
        ),
      );
    }
    return make(
      'li',
      { class: 'card', dataset: { id, metadata: JSON.stringify(metadata || {}) } },
      pick,
      make(
        'div',
        { class: 'card-body' },
        make('p', { class: 'card-title', text: title }),
        similarity === undefined
          ? make('p', { class: 'card-id', text: `id ${id}` })
          : make(
              'p',
              { class: 'score', title: 'Cosine similarity (1 = identical)' },
              make('span', { class: 'score-label', text: 'similarity ' }),
              make('span', { class: 'score-value', text: similarity.toFixed(3) }),
              scoreBar(similarity),
            ),
        facts,
      ),
    );
  }

  /** Set through the CSSOM: the page's Content-Security-Policy forbids inline style attributes. */
  function scoreBar(score) {
    const bar = make('span', { class: 'score-bar', 'aria-hidden': 'true' });
    bar.style.setProperty('--score', Math.max(0, Math.min(1, score)).toFixed(3));
    return bar;
  }

  function showCards(cards) {
    el.results.replaceChildren(...cards);
    el.results.setAttribute('aria-busy', 'false');
  }

  /** Shows the current view: the catalogue, or the results of the current query. */
  async function render() {
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

  // ---------------------------------------------------------------- queries
  function showQuery(src, caption, meta) {
    if (el.queryImage.src !== src) el.queryImage.src = src;
    el.queryImage.alt = caption;
    el.queryCaption.textContent = caption;
    el.queryMeta.textContent = meta;
    el.query.hidden = false;
  }

  function searchByPhoto(file) {
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

  async function searchByItem(id, metadata) {
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
  function itemFromHash() {
    const match = /^#item=(.+)$/.exec(location.hash);
    return match ? decodeURIComponent(match[1]) : null;
  }

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

  // ---------------------------------------------------------------- photo input: file, drop, paste
  el.photo.addEventListener('change', () => searchByPhoto(el.photo.files && el.photo.files[0]));

  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes('Files');
  for (const type of ['dragenter', 'dragover']) {
    el.dropzone.addEventListener(type, (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      el.dropzone.classList.add('is-dragging');
    });
  }
  el.dropzone.addEventListener('dragleave', (event) => {
    if (!el.dropzone.contains(event.relatedTarget)) el.dropzone.classList.remove('is-dragging');
  });
  el.dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    el.dropzone.classList.remove('is-dragging');
    searchByPhoto(event.dataTransfer.files[0]);
  });
  // A photo dropped next to the drop zone must not navigate away from the page.
  window.addEventListener('dragover', (event) => hasFiles(event) && event.preventDefault());
  window.addEventListener('drop', (event) => hasFiles(event) && event.preventDefault());
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData ? event.clipboardData.files : [])].find((f) =>
      f.type.startsWith('image/'),
    );
    if (file) searchByPhoto(file);
  });

  // ---------------------------------------------------------------- start
  async function start() {
    await refreshIndex();
    const id = itemFromHash();
    if (id && state.index && state.index.count > 0) await searchByItem(id);
    document.body.dataset.ready = 'true';
    setInterval(() => void refreshIndex(), STATUS_POLL_MS);
  }
  void start();
})();
