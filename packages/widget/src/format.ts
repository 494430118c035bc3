/**
 * Pure helpers of the widget (no DOM): what a result card shows, taken from the item's metadata
 * through the fields the merchant maps with attributes.
 */

export type Metadata = Record<string, string | number>;

/** One result as the widget shows it. */
export interface Card {
  id: string;
  title: string;
  /** Formatted price, or null when the item has none. */
  price: string | null;
  /** Absolute URL of the product page, or null (the card is then not a link). */
  url: string | null;
}

export interface FieldMap {
  titleField: string;
  priceField: string;
  urlField: string;
  /** `{id}` is replaced by the URL-encoded item id; used when the item has no `urlField`. */
  urlTemplate: string | null;
  /** ISO 4217 code: numeric prices are formatted as money in `locale`; without it they are shown as is. */
  currency: string | null;
  locale: string | undefined;
  /** Base for relative product URLs (the page's URL). */
  baseUrl: string;
}

const text = (value: string | number | undefined): string | null =>
  value === undefined || String(value).trim() === '' ? null : String(value).trim();

/** Only http(s) links: a `javascript:` URL in catalogue metadata must never become a link. */
export function safeUrl(value: string, baseUrl: string): string | null {
  try {
    const url = new URL(value, baseUrl);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

export function formatPrice(value: string | number | undefined, currency: string | null, locale?: string) {
  const raw = text(value);
  if (raw === null) return null;
  const amount = typeof value === 'number' ? value : Number(raw);
  if (!currency || !Number.isFinite(amount) || raw === '') return raw;
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(amount);
  } catch {
    // An unknown currency code or locale: show the number with the code rather than nothing.
    return `${raw} ${currency}`;
  }
}

export function toCard(id: string, metadata: Metadata, fields: FieldMap): Card {
  const link =
    text(metadata[fields.urlField]) ?? fields.urlTemplate?.replaceAll('{id}', encodeURIComponent(id));
  return {
    id,
    // Without a title field the id is still a name a screen reader can say.
    title: text(metadata[fields.titleField]) ?? id,
    price: formatPrice(metadata[fields.priceField], fields.currency, fields.locale),
    url: link ? safeUrl(link, fields.baseUrl) : null,
  };
}

/** `k` as the API accepts it (1–100), from an attribute that may be missing or wrong. */
export function clampK(value: string | null, fallback = 8): number {
  const k = Number.parseInt(value ?? '', 10);
  return Number.isFinite(k) ? Math.min(100, Math.max(1, k)) : fallback;
}
