// The pretend shop's own page script (not part of the widget): it knows which product the page is
// about and tells the widget, as a shop's product template would with item-id="{{ product.sku }}".
const ITEM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const asked = new URLSearchParams(location.search).get('item') ?? '';
const id = ITEM_ID.test(asked) ? asked : '5974';

document.getElementById('similar').setAttribute('item-id', id);

// Shopper events (POST /v1/events), off unless asked for: ?events=on posts the widgets' impressions and
// clicks, with ?events-key=<EVENTS_KEY> when the API has one (open without: no EVENTS_KEY nor API_KEY).
// A real shop writes events="on" events-key="…" into its template instead. The links of the results
// keep the two parameters, so the next product page records too.
const params = new URLSearchParams(location.search);
if (params.get('events') === 'on') {
  const key = params.get('events-key');
  const keep = `&events=on${key ? `&events-key=${encodeURIComponent(key)}` : ''}`;
  for (const widget of document.querySelectorAll('lookalike-similar, lookalike-similar-upload')) {
    widget.setAttribute('events', 'on');
    if (key) widget.setAttribute('events-key', key);
    widget.setAttribute('url-template', `${widget.getAttribute('url-template')}${keep}`);
  }
}

const image = document.getElementById('product-image');
image.src = `/v1/items/${encodeURIComponent(id)}/image`;

const shown = ['articleType', 'baseColour', 'gender', 'season', 'usage', 'price'];
fetch(`/v1/items/${encodeURIComponent(id)}`)
  .then((response) => (response.ok ? response.json() : Promise.reject(new Error(String(response.status)))))
  .then((item) => {
    const title = String(item.metadata.productDisplayName ?? `Item ${id}`);
    document.getElementById('product-title').textContent = title;
    document.title = `${title} · Northwind Outfitters`;
    image.alt = title;
    const facts = document.getElementById('product-facts');
    for (const field of shown) {
      if (item.metadata[field] === undefined) continue;
      const term = document.createElement('dt');
      term.textContent = field;
      const value = document.createElement('dd');
      value.textContent = String(item.metadata[field]);
      facts.append(term, value);
    }
  })
  .catch(() => {
    document.getElementById('product-title').textContent = `Item ${id}`;
  });

// The widget's events, where a shop would send them to its analytics.
for (const type of ['lookalike-impression', 'lookalike-click', 'lookalike-error']) {
  document.addEventListener(type, (event) => console.info(type, event.detail));
}
