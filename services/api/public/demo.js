// The lookalike demo page: plain JavaScript modules against the public API, no framework, no build
// step. Views: the catalogue (GET /v1/items), similar to an uploaded photo, whole or cropped
// (POST /v1/similar, multipart), similar to an item (GET /v1/items/{id}/similar) and "more like these,
// not like those" from a result's buttons (POST /v1/recommend, examples.js); filter chips come from
// GET /v1/index/fields. Shown results and opened ones are posted as shopper events (POST /v1/events,
// events.js). The view is kept in the address (url-state.js). This entry wires the parts together and
// starts the page.
import { wireCrop } from './crop.js';
import { startEvents } from './events.js';
import { wireFilters } from './filters.js';
import { state } from './page.js';
import { wirePhotoInput } from './photo-input.js';
import { applyUrl, cropPhoto, wireQueries } from './queries.js';
import { pushView } from './url-state.js';
import { refreshIndex, render } from './views.js';

const STATUS_POLL_MS = 5000;

wireFilters(() => {
  pushView();
  return render();
});
wireQueries();
wirePhotoInput();
wireCrop(cropPhoto);
startEvents();

async function start() {
  await refreshIndex();
  if (state.index && state.index.count > 0) await applyUrl();
  state.started = true;
  document.body.dataset.ready = 'true';
  setInterval(() => void refreshIndex(), STATUS_POLL_MS);
}
void start();
