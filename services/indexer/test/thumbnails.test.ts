import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { noCounters } from '../src/processors/common';
import { processDelete } from '../src/processors/delete';
import { processUpsert } from '../src/processors/upsert';
import type { CatalogueItem, ImageRef, SnapshotChange } from '../src/ports';
import type { SubmitOutcome } from '../src/publisher';
import { thumbnailPath } from '@lookalike/contracts';
import { THUMBNAIL_MAX_SIDE, ThumbnailStore } from '../src/thumbnails';
import { SAMPLE_IDS, jobContext, sampleImagesDir } from './helpers';

const MODEL = { id: 'fake', sha256: 'f'.repeat(64), dimension: 4 };

/** A 1200 × 800 PNG (bigger than a thumbnail on both sides), generated, not a fixture. */
function bigPng(): Promise<Buffer> {
  return sharp({ create: { width: 1200, height: 800, channels: 3, background: { r: 200, g: 40, b: 90 } } })
    .png()
    .toBuffer();
}

describe('ThumbnailStore', () => {
  let dataDir = '';
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'indexer-thumbs-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  test('writes a WebP of at most 256 px per side at DATA_DIR/thumbnails/<id>.webp, leaving no temp file', async () => {
    const store = new ThumbnailStore(dataDir);
    await store.put('sku-1:a.b', await bigPng());
    const file = thumbnailPath(dataDir, 'sku-1:a.b');
    expect(file).toBe(path.join(dataDir, 'thumbnails', 'sku-1:a.b.webp'));
    const meta = await sharp(readFileSync(file)).metadata();
    expect(meta.format).toBe('webp');
    expect([meta.width, meta.height]).toEqual([
      THUMBNAIL_MAX_SIDE,
      Math.round((THUMBNAIL_MAX_SIDE * 800) / 1200),
    ]);
    expect(readdirSync(path.join(dataDir, 'thumbnails'))).toEqual(['sku-1:a.b.webp']);
    expect(await store.has('sku-1:a.b')).toBe(true);
    expect(await store.has('other')).toBe(false);
  });

  test('never enlarges a small photo, and remove() deletes only the named ids (unknown ids are fine)', async () => {
    const store = new ThumbnailStore(dataDir);
    const photo = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[0]}.jpg`));
    const original = await sharp(photo).metadata();
    await store.put('a', photo);
    await store.put('b', photo);
    const thumb = await sharp(readFileSync(store.pathOf('a'))).metadata();
    expect(Math.max(thumb.width, thumb.height)).toBeLessThanOrEqual(THUMBNAIL_MAX_SIDE);
    expect(thumb.width).toBeLessThanOrEqual(original.width);
    await store.remove(['a', 'never-there']);
    expect(await store.has('a')).toBe(false);
    expect(await store.has('b')).toBe(true);
  });

  test('refuses bytes that are not an image without leaving a file behind', async () => {
    const store = new ThumbnailStore(dataDir);
    await expect(store.put('x', Buffer.from('not an image at all'))).rejects.toThrow();
    expect(await store.has('x')).toBe(false);
  });
});

describe('processors keep thumbnails in step with the index', () => {
  let dataDir = '';
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'indexer-thumbs-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  /** Real thumbnails and photos; the embedder, index and publisher are small fakes (not under test). */
  function deps(thumbnails: Pick<ThumbnailStore, 'put' | 'has' | 'remove'>, published: Map<string, string>) {
    const submit = async (change: SnapshotChange): Promise<SubmitOutcome> => {
      for (const u of change.upserts) published.set(u.id, u.contentHash);
      const deleted = change.deletes.filter((id) => published.delete(id));
      return {
        version: 1,
        count: published.size,
        deleted,
        notFound: change.deletes.filter((id) => !deleted.includes(id)),
      };
    };
    return {
      images: {
        load: async (ref: ImageRef) =>
          'imagePath' in ref
            ? readFileSync(path.join(sampleImagesDir, ref.imagePath))
            : Buffer.from('imageBase64' in ref ? ref.imageBase64 : '', 'base64'),
      },
      embedder: { model: MODEL, embed: async () => ({ vector: new Float32Array([1, 0, 0, 0]) }) },
      store: {
        latest: async () => ({
          version: 1,
          count: published.size,
          model: MODEL,
          get: (id: string) =>
            published.has(id)
              ? { id, metadata: {}, contentHash: published.get(id)!, indexedAt: new Date().toISOString() }
              : undefined,
          vectorOf: () => undefined,
          ids: () => published.keys(),
        }),
      },
      publisher: { submit, pendingHashOf: () => undefined },
      blobs: { put: async () => 'x' },
      thumbnails,
      counters: noCounters,
      itemConcurrency: 2,
    };
  }

  test('upsert writes one per embedded item (path and base64); re-import fills a missing one; delete removes it', async () => {
    const store = new ThumbnailStore(dataDir);
    const published = new Map<string, string>();
    const photo = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[1]}.jpg`));
    const items: CatalogueItem[] = [
      { id: 'p1', metadata: {}, imagePath: `${SAMPLE_IDS[0]}.jpg` },
      { id: 'b1', metadata: {}, imageBase64: photo.toString('base64') },
    ];
    const first = await processUpsert(items, jobContext(), deps(store, published));
    expect(first.result.indexed.sort()).toEqual(['b1', 'p1']);
    expect(await store.has('p1')).toBe(true);
    expect(await store.has('b1')).toBe(true);

    // An item indexed before thumbnails were kept: unchanged on re-import, but its thumbnail appears.
    await store.remove(['p1']);
    const again = await processUpsert(items, jobContext(), deps(store, published));
    expect(again.result.unchanged.sort()).toEqual(['b1', 'p1']);
    expect(await store.has('p1')).toBe(true);

    const deleted = await processDelete(['p1', 'nope'], jobContext(), deps(store, published));
    expect(deleted.result).toMatchObject({ deleted: ['p1'], notFound: ['nope'] });
    expect(await store.has('p1')).toBe(false);
    expect(await store.has('b1')).toBe(true);
  });

  test('a thumbnail that cannot be written does not fail the item', async () => {
    const published = new Map<string, string>();
    const failing = {
      has: async () => false,
      remove: async () => undefined,
      put: async () => {
        throw new Error('disk full');
      },
    };
    const outcome = await processUpsert(
      [{ id: 'p1', metadata: {}, imagePath: `${SAMPLE_IDS[0]}.jpg` }],
      jobContext(),
      deps(failing, published),
    );
    expect(outcome).toMatchObject({ kind: 'done', result: { indexed: ['p1'], failed: [] } });
  });
});
