// Result cards as a shop shows them: image, title, price, product link and a quiet similarity badge;
// the full metadata stays one click away under "Details".
import { PROMOTED_FIELDS, el, humanize, imageUrl, make, priceOf, productUrlOf, titleOf } from './page.js';

/**
 * `similarity` is the cosine similarity of the result (the order may also weigh catalogue labels);
 * `position` its zero-based place in a result list (for shopper events), undefined in the catalogue,
 * where `feedback` is false too: "More like this" / "Not like this" are for the results of a search.
 */
export function card(id, metadata, similarity, { position, feedback = false } = {}) {
  const title = titleOf(id, metadata);
  const price = priceOf(metadata);
  const link = productUrlOf(metadata);
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
  // The image is the "more like this" control: the whole picture is the target, and its accessible
  // name says what it does.
  const pick = make(
    'button',
    { type: 'button', class: 'card-pick', dataset: { id } },
    make('span', { class: 'visually-hidden', text: 'Find items like this: ' }),
    img,
  );

  const facts = make('dl', { class: 'facts' });
  for (const [field, value] of Object.entries(metadata || {})) {
    if (field.startsWith('_')) continue;
    facts.append(
      make(
        'div',
        {},
        make('dt', { text: humanize(field) }),
        make('dd', { text: String(value), title: String(value) }),
      ),
    );
  }
  facts.append(make('div', {}, make('dt', { text: 'Id' }), make('dd', { text: id })));
  const hasDetails = Object.keys(metadata || {}).some((f) => !f.startsWith('_') && !PROMOTED_FIELDS.has(f));

  const dataset = { id, metadata: JSON.stringify(metadata || {}) };
  if (position !== undefined) dataset.position = String(position);
  return make(
    'li',
    { class: 'card', dataset },
    pick,
    make(
      'div',
      { class: 'card-body' },
      make('p', { class: 'card-title', text: title }),
      price === null ? null : make('p', { class: 'card-price', text: price }),
      make(
        'div',
        { class: 'card-row' },
        link === null
          ? null
          : make(
              'a',
              { class: 'card-link', href: link, rel: 'noopener' },
              'View product',
              make('span', { class: 'visually-hidden', text: `: ${title}` }),
            ),
        similarity === undefined ? null : badge(similarity),
      ),
      make(
        'details',
        { class: 'card-details' },
        make(
          'summary',
          {},
          hasDetails ? 'Details' : 'Id',
          make('span', { class: 'visually-hidden', text: ` of ${title}` }),
        ),
        facts,
      ),
      feedback ? feedbackButtons(id, title) : null,
    ),
  );
}

/**
 * "More like this" / "Not like this": add the item to the examples the search looks like, or moves
 * away from (queries.js). Each button's accessible name says which item it is about.
 */
function feedbackButtons(id, title) {
  const button = (kind, text, mark) =>
    make(
      'button',
      { type: 'button', class: `feedback feedback-${kind}`, dataset: { feedback: kind, id } },
      make('span', { class: 'feedback-mark', 'aria-hidden': 'true', text: mark }),
      text,
      make('span', { class: 'visually-hidden', text: `: ${title}` }),
    );
  return make(
    'div',
    { class: 'card-feedback' },
    button('positive', 'More like this', '+'),
    button('negative', 'Not like this', '−'),
  );
}

/**
 * The similarity, quietly: two decimals in a small badge (the exact value in data-similarity and the
 * tooltip). Shoppers do not need it to shop; a merchant evaluating the search does.
 */
function badge(similarity) {
  return make(
    'span',
    {
      class: 'similarity',
      title: `Visual similarity ${similarity.toFixed(3)} (cosine, 1 = identical)`,
      dataset: { similarity: String(similarity) },
    },
    make('span', { class: 'visually-hidden', text: 'Similarity ' }),
    similarity.toFixed(2),
  );
}

export function showCards(cards) {
  el.results.replaceChildren(...cards);
  el.results.setAttribute('aria-busy', 'false');
}
