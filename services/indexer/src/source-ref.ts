import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MissingSourceError, ReservedMetadataError } from './errors';
import { sha256Hex } from './hash';
import type { ImageRef, Metadata } from './ports';

/**
 * Where an item's image came from, kept in the snapshot so `reindex` can re-embed every item and the
 * demo page can show thumbnails. Stored under a reserved metadata key as one string:
 * `url:<imageUrl>`, `path:<imagePath relative to CATALOGUE_ROOT>` or `blob:<sha256>` for base64
 * uploads, whose bytes are kept content-addressed under `<DATA_DIR>/sources/` (see BlobStore).
 */
export const SOURCE_METADATA_KEY = '_source';

export type StoredSource = { imageUrl: string } | { imagePath: string } | { blob: string };

export function encodeSource(source: StoredSource): string {
  if ('imageUrl' in source) return `url:${source.imageUrl}`;
  if ('imagePath' in source) return `path:${source.imagePath}`;
  return `blob:${source.blob}`;
}

export function decodeSource(value: unknown): StoredSource | null {
  if (typeof value !== 'string') return null;
  const colon = value.indexOf(':');
  if (colon < 0) return null;
  const kind = value.slice(0, colon);
  const rest = value.slice(colon + 1);
  if (!rest) return null;
  if (kind === 'url') return { imageUrl: rest };
  if (kind === 'path') return { imagePath: rest };
  if (kind === 'blob' && /^[0-9a-f]{64}$/.test(rest)) return { blob: rest };
  return null;
}

/** The metadata as stored: the caller's fields plus the source ref. Refuses the reserved key. */
export function storedMetadata(metadata: Metadata, source: StoredSource): Metadata {
  if (Object.prototype.hasOwnProperty.call(metadata, SOURCE_METADATA_KEY)) {
    throw new ReservedMetadataError(SOURCE_METADATA_KEY);
  }
  return { ...metadata, [SOURCE_METADATA_KEY]: encodeSource(source) };
}

/** The caller's metadata without the indexer's reserved key (for results shown to people). */
export function userMetadata(metadata: Metadata): Metadata {
  const { [SOURCE_METADATA_KEY]: _source, ...rest } = metadata;
  return rest;
}

/**
 * Content-addressed store of base64-uploaded image bytes (`<dir>/<aa>/<sha256>`), so those items can
 * be re-embedded by `reindex` and thumbnailed later. Writes are atomic (temp file + rename) and
 * idempotent, so concurrent replicas storing the same bytes do not conflict.
 */
export class BlobStore {
  constructor(readonly dir: string) {}

  pathOf(hash: string): string {
    return path.join(this.dir, hash.slice(0, 2), hash);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const hash = sha256Hex(bytes);
    const file = this.pathOf(hash);
    if (await stat(file).catch(() => null)) return hash;
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
    return hash;
  }

  async get(hash: string, id: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(hash));
    } catch (err) {
      throw new MissingSourceError(
        id,
        `stored upload ${hash.slice(0, 12)}… is missing: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Removes blobs no item references any more. Only files older than `graceMs` go, so bytes written
   * by a replica whose publish is still pending are kept. Returns how many were removed.
   */
  async collect(referenced: Set<string>, graceMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    const shards = await readdir(this.dir).catch(() => [] as string[]);
    for (const shard of shards) {
      const shardDir = path.join(this.dir, shard);
      const names = await readdir(shardDir).catch(() => [] as string[]);
      for (const name of names) {
        if (referenced.has(name)) continue;
        const info = await stat(path.join(shardDir, name)).catch(() => null);
        if (!info || now - info.mtimeMs < graceMs) continue;
        await rm(path.join(shardDir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }
}

/** The ref to load an item's image again from what the snapshot stored. */
export async function loadableRef(
  id: string,
  source: StoredSource | null,
  blobs: Pick<BlobStore, 'get'>,
): Promise<ImageRef | { bytes: Buffer }> {
  if (!source) throw new MissingSourceError(id, `no ${SOURCE_METADATA_KEY} metadata`);
  if ('blob' in source) return { bytes: await blobs.get(source.blob, id) };
  return source;
}
