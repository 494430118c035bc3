import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { thumbnailPath } from '@lookalike/contracts';
import sharp from 'sharp';
import writeFileAtomic from 'write-file-atomic';

/** Longest side of a thumbnail, in pixels (the demo page shows them at most 256 px wide). */
export const THUMBNAIL_MAX_SIDE = 256;

/**
 * Small WebP thumbnails of the catalogue images, made from the bytes the indexer already loaded, so
 * the API can show catalogue items without reaching back to the image's source (a catalogue folder
 * it may not mount, a URL, an upload). Written atomically (write-file-atomic: temp file, fsync,
 * rename): a reader never sees a half-written file, and replicas writing the same item race
 * harmlessly (last rename wins).
 */
export class ThumbnailStore {
  constructor(readonly dataDir: string) {}

  /** `<DATA_DIR>/thumbnails/<id>.webp`: the layout every process shares (@lookalike/contracts). */
  pathOf(id: string): string {
    return thumbnailPath(this.dataDir, id);
  }

  async has(id: string): Promise<boolean> {
    return (await stat(this.pathOf(id)).catch(() => null)) !== null;
  }

  async put(id: string, image: Uint8Array): Promise<void> {
    const webp = await sharp(image, { failOn: 'none', limitInputPixels: 100_000_000 })
      .rotate()
      .resize(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 78, effort: 2 })
      .toBuffer();
    const file = this.pathOf(id);
    await mkdir(path.dirname(file), { recursive: true });
    // Removes its temp file itself when the write fails.
    await writeFileAtomic(file, webp);
  }

  async remove(ids: Iterable<string>): Promise<void> {
    await Promise.all([...ids].map((id) => rm(this.pathOf(id), { force: true })));
  }
}
