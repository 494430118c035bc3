import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so equal metadata always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * What decides whether an upsert needs embedding work: the image bytes, the metadata as it will be
 * stored (including the source ref) and the model. Same hash as the stored item ⇒ nothing to do.
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
