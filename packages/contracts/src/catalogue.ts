/** Catalogue items as every layer sees them: ids, metadata and where an item's image came from. */

/** Item ids: what the queue accepts and the index stores; safe as a URL path segment and a file name. */
export const ITEM_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Metadata field names: 1–64 characters of [A-Za-z0-9_], not starting with `_`. */
export const METADATA_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_]{0,63}$/;

/** One set of metadata limits for the API's schemas, the queue's job validation and the index store. */
export const METADATA_LIMITS = {
  /** Fields per item. */
  maxFields: 64,
  /** Characters per string value. */
  maxStringLength: 1_000,
} as const;

/** Limits on the image references an item may carry (its `source`). */
export const IMAGE_REF_LIMITS = {
  maxUrlLength: 2_048,
  maxPathLength: 1_024,
} as const;

/** Flat item metadata: string or finite number values only. */
export type Metadata = Record<string, string | number>;

/**
 * Where an item's image came from, kept with the item (not in its metadata) so a reindex can
 * re-embed it: an http(s) URL, a path under the indexer's CATALOGUE_ROOT, or the sha256 of inline
 * bytes the indexer keeps content-addressed under `<DATA_DIR>/sources/`. Internal: never shown to
 * clients (it may name private hosts or paths).
 */
export type ItemSource = { imageUrl: string } | { imagePath: string } | { blob: string };

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether `value` is a well-formed ItemSource (exactly one key, within the limits). */
export function isItemSource(value: unknown): value is ItemSource {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== 1) return false;
  const record = value as Record<string, unknown>;
  if (typeof record.imageUrl === 'string')
    return record.imageUrl !== '' && record.imageUrl.length <= IMAGE_REF_LIMITS.maxUrlLength;
  if (typeof record.imagePath === 'string')
    return record.imagePath !== '' && record.imagePath.length <= IMAGE_REF_LIMITS.maxPathLength;
  if (typeof record.blob === 'string') return SHA256_HEX.test(record.blob);
  return false;
}
