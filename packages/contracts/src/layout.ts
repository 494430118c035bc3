import path from 'node:path';

/**
 * The shared data directory (DATA_DIR) as every process sees it. The index store owns what is under
 * `snapshots/` (its format is described in packages/index-store/src/format/layout.ts); the indexer
 * writes thumbnails and inline-image blobs; the API and the bench only read.
 *
 *   CURRENT              the pointer to the published snapshot version (written by the index store)
 *   snapshots/           one immutable directory per version
 *   thumbnails/<id>.webp the indexer's thumbnail of each item, served by the API
 *   sources/<sha256>     inline (base64) image bytes, kept so a reindex can re-embed them
 */
export const POINTER_FILE = 'CURRENT';
export const SNAPSHOTS_DIR = 'snapshots';
export const THUMBNAILS_DIR = 'thumbnails';
export const SOURCES_DIR = 'sources';

/** An item's thumbnail. Item ids match ITEM_ID_PATTERN, so an id is always a plain file name. */
export function thumbnailPath(dataDir: string, id: string): string {
  return path.join(dataDir, THUMBNAILS_DIR, `${id}.webp`);
}

export function thumbnailsDir(dataDir: string): string {
  return path.join(dataDir, THUMBNAILS_DIR);
}

export function sourcesDir(dataDir: string): string {
  return path.join(dataDir, SOURCES_DIR);
}

export function pointerPath(dataDir: string): string {
  return path.join(dataDir, POINTER_FILE);
}
