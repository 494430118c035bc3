import { buildJobResult } from '@lookalike/queue';
import { itemContentHash } from '../hash';
import type { CatalogueItem, ImageEmbedder, ImageLoader, ItemInput, SnapshotStore } from '../ports';
import type { DebouncedPublisher } from '../publisher';
import { imageRefOf, sourceOf, type BlobStore } from '../source-ref';
import type { ThumbnailStore } from '../thumbnails';
import {
  deferForModelChange,
  forEachLimited,
  recordFailure,
  type ItemCounters,
  type ItemFailure,
  type JobContext,
  type ProcessOutcome,
} from './common';

export interface UpsertDeps {
  images: ImageLoader;
  embedder: ImageEmbedder;
  store: Pick<SnapshotStore, 'latest'>;
  publisher: Pick<DebouncedPublisher, 'submit' | 'pendingHashOf'>;
  blobs: Pick<BlobStore, 'put'>;
  /** Where item thumbnails are kept for the API (none in processor tests that do not care). */
  thumbnails?: Pick<ThumbnailStore, 'put' | 'has'>;
  counters: ItemCounters;
  /** Items in flight at once (load + decode + embed overlap across items). */
  itemConcurrency: number;
}

/** A thumbnail is a convenience for the demo page: failing to write one never fails the item. */
async function keepThumbnail(
  deps: UpsertDeps,
  id: string,
  bytes: Uint8Array,
  context: JobContext,
  onlyIfMissing: boolean,
): Promise<void> {
  const thumbnails = deps.thumbnails;
  if (!thumbnails) return;
  try {
    if (onlyIfMissing && (await thumbnails.has(id))) return;
    await thumbnails.put(id, bytes);
  } catch (err) {
    context.logger.warn({ itemId: id, err }, 'thumbnail not written');
  }
}

/**
 * Upserts a batch: per item, load the image, hash bytes + metadata + source + model, skip it when the
 * latest snapshot (or a pending change) already has that hash, otherwise embed it. One bad item
 * never fails the others. The embedded items are published in one change, each with its features
 * (vector, colour histogram) and its source beside the caller's metadata, which is stored as given;
 * the outcome is returned only after that snapshot is published.
 */
export async function processUpsert(
  items: readonly CatalogueItem[],
  context: JobContext,
  deps: UpsertDeps,
): Promise<ProcessOutcome> {
  const indexed: string[] = [];
  const unchanged: string[] = [];
  let version: number | null = null;
  const permanent: ItemFailure[] = [];
  const transient: ItemFailure[] = [];
  const upserts: ItemInput[] = [];
  const model = deps.embedder.model;

  // One id once: a later occurrence in the same batch is the one that counts.
  const lastIndex = new Map<string, number>();
  items.forEach((item, index) => lastIndex.set(item.id, index));
  const batch = items.filter((item, index) => lastIndex.get(item.id) === index);

  const snapshot = await deps.store.latest();
  const deferred = snapshot && deferForModelChange(snapshot.model, model, context);
  if (deferred) return deferred;
  const currentHash = (id: string): string | undefined => {
    const pending = deps.publisher.pendingHashOf(id);
    if (pending !== undefined) return pending ?? undefined;
    return snapshot?.get(id)?.contentHash;
  };
  // On a re-run, an item published after the job was created was published by this job's earlier run.
  const publishedByEarlierRun = (id: string): boolean => {
    if (context.rerunOfJobCreatedAt === undefined || deps.publisher.pendingHashOf(id) !== undefined)
      return false;
    const indexedAt = Date.parse(snapshot?.get(id)?.indexedAt ?? '');
    return Number.isFinite(indexedAt) && indexedAt >= context.rerunOfJobCreatedAt;
  };

  let done = 0;
  const started = await forEachLimited(batch, deps.itemConcurrency, context.shutdown, async (item) => {
    try {
      const bytes = await deps.images.load(imageRefOf(item));
      const source = sourceOf(item, bytes);
      const hash = itemContentHash(bytes, item.metadata, source, model);
      if (currentHash(item.id) === hash) {
        if (publishedByEarlierRun(item.id)) indexed.push(item.id);
        else unchanged.push(item.id);
        deps.counters.unchanged();
        // Re-importing a catalogue fills in thumbnails of items indexed before they were kept.
        await keepThumbnail(deps, item.id, bytes, context, true);
        return;
      }
      const { vector, colour } = await deps.embedder.embed(bytes);
      // Inline uploads are kept so reindex (and thumbnails) can read them again later.
      if ('blob' in source) await deps.blobs.put(bytes);
      await keepThumbnail(deps, item.id, bytes, context, false);
      upserts.push({ id: item.id, vector, colour, metadata: item.metadata, source, contentHash: hash });
      deps.counters.embedded();
      context.logger.debug({ itemId: item.id }, 'item embedded');
    } catch (err) {
      recordFailure(item.id, err, context, permanent, transient, deps.counters);
    } finally {
      done++;
      context.progress(done, batch.length);
    }
  });

  if (upserts.length > 0) {
    const published = await deps.publisher.submit({ upserts, deletes: [] });
    version = published.version;
    indexed.push(...upserts.map((u) => u.id));
  }
  const result = buildJobResult({ indexed, unchanged, failed: permanent, version });
  if (started < batch.length) return { kind: 'handBack', result, remaining: batch.length - started };
  if (transient.length > 0) return { kind: 'retry', result, transient };
  return { kind: 'done', result };
}
