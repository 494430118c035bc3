// The lookalike demo page: plain JavaScript modules against the public API, no framework, no build
// step. Views: the catalogue (GET /v1/items), similar to an uploaded photo (POST /v1/similar,
// multipart) and similar to an item (GET /v1/items/{id}/similar); filter chips come from
// GET /v1/index/fields. This entry wires the parts together and starts the page.
import { wireFilters } from './filters.js';
import { state } from './page.js';
import { wirePhotoInput } from './photo-input.js';
import { itemFromHash, searchByItem, wireQueries } from './queries.js';
import { refreshIndex, render } from './views.js';

const STATUS_POLL_MS = 5000;

wireFilters(render);
wireQueries();
wirePhotoInput();

async function start() {
  await refreshIndex();
  const id = itemFromHash();
  if (id && state.index && state.index.count > 0) await searchByItem(id);
  document.body.dataset.ready = 'true';
  setInterval(() => void refreshIndex(), STATUS_POLL_MS);
}
void start();
