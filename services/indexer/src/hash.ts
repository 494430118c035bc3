import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { ItemSource, Metadata, ModelIdentity } from '@lookalike/contracts';
import { ReservedMetadataError } from './errors';

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of `value`: object keys sorted at every level, so
 * equal metadata always hashes the same. For the data hashed here (flat metadata of strings and
 * finite numbers) it is the same text as the sorted-keys JSON.stringify the indexer used before, so
 * stored content hashes still match (pinned in test/hash-and-source.test.ts).
 */
export function canonicalJson(value: unknown): string {
  // `undefined` (no JSON text at all) hashes as `null`, as it always did.
  return canonicalize(value) ?? 'null';
}

/**
 * What decides whether an upsert needs embedding work: the image bytes, the metadata and the model.
 * Same hash as the stored item ⇒ nothing to do. Items hash through `itemContentHash`.
 */
export function contentHash(
  image: Uint8Array,
  metadata: Record<string, unknown>,
  model: { id: string; sha256: string },
): string {
  return createHash('sha256')
    .update('lookalike-item-v1\0')
    .update(`${model.id}\0${model.sha256}\0`)
    .update(canonicalJson(metadata))
    .update('\0')
    .update(image)
    .digest('hex');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The metadata key the source ref was hashed (and, before items had a `source` field, stored) under.
 * Callers cannot use it: the queue refuses keys starting with `_`, and `itemContentHash` refuses it.
 */
export const HASHED_SOURCE_KEY = '_source';

/** The source ref as it is hashed: `url:<imageUrl>`, `path:<imagePath>` or `blob:<sha256>`. */
function sourceText(source: ItemSource): string {
  if ('imageUrl' in source) return `url:${source.imageUrl}`;
  if ('imagePath' in source) return `path:${source.imagePath}`;
  return `blob:${source.blob}`;
}

/**
 * An item's content hash: its image bytes, its metadata, where the image came from and the model.
 * The source ref is hashed as the metadata field it used to be stored as (`_source: "path:…"`), so
 * items published before the `source` field keep their hash and re-importing them embeds nothing.
 * Throws ReservedMetadataError (permanent) when the caller's metadata uses that key itself.
 */
export function itemContentHash(
  image: Uint8Array,
  metadata: Metadata,
  source: ItemSource,
  model: Pick<ModelIdentity, 'id' | 'sha256'>,
): string {
  if (Object.prototype.hasOwnProperty.call(metadata, HASHED_SOURCE_KEY)) {
    throw new ReservedMetadataError(HASHED_SOURCE_KEY);
  }
  return contentHash(image, { ...metadata, [HASHED_SOURCE_KEY]: sourceText(source) }, model);
}
