import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ItemSource } from '@lookalike/contracts';
import writeFileAtomic from 'write-file-atomic';
import { MissingSourceError } from './errors';
import { sha256Hex } from './hash';
import type { CatalogueItem, ImageRef } from './ports';

/**
 * Where an item's image came from (index-store's `source` field), so `reindex` can re-embed every
 * item: the job's `imageUrl` or `imagePath` as given, or for a base64 upload the sha256 of its bytes,
 * which are kept content-addressed under `<DATA_DIR>/sources/` (see BlobStore).
 */
export function sourceOf(item: CatalogueItem, bytes: Uint8Array): ItemSource {
  if ('imageUrl' in item) return { imageUrl: item.imageUrl };
  if ('imagePath' in item) return { imagePath: item.imagePath };
  return { blob: sha256Hex(bytes) };
}

/** The image reference of a job's item, for the image source (without its id and metadata). */
export function imageRefOf(item: CatalogueItem): ImageRef {
  if ('imageUrl' in item) return { imageUrl: item.imageUrl };
  if ('imagePath' in item) return { imagePath: item.imagePath };
  return { imageBase64: item.imageBase64 };
}

/**
 * Content-addressed store of base64-uploaded image bytes (`<dir>/<aa>/<sha256>`), so those items can
 * be re-embedded by `reindex` and thumbnailed later. Writes are atomic (write-file-atomic: temp file,
 * fsync, rename) and
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
    // A Buffer view of the same bytes: write-file-atomic writes anything that is not a Buffer as text.
    await writeFileAtomic(file, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
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

/** The ref to load a stored item's image again: its URL or path, or the kept bytes of an upload. */
export async function loadableRef(
  id: string,
  source: ItemSource,
  blobs: Pick<BlobStore, 'get'>,
): Promise<ImageRef | { bytes: Buffer }> {
  if ('blob' in source) return { bytes: await blobs.get(source.blob, id) };
  return source;
}
