// Result cards: a catalogue item's thumbnail, title, similarity and metadata.
import { TITLE_FIELDS, el, humanize, imageUrl, make, titleOf } from './page.js';

/** `similarity` is the cosine similarity shown on the card (the order may also weigh labels). */
export function card(id, metadata, similarity) {
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

export function showCards(cards) {
  el.results.replaceChildren(...cards);
  el.results.setAttribute('aria-busy', 'false');
}
