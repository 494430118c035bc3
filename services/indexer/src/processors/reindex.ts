import { sameModel } from '@lookalike/contracts';
import { buildJobResult, emptyJobResult } from '@lookalike/queue';
import { MissingSourceError } from '../errors';
import { itemContentHash } from '../hash';
import type {
  ImageEmbedder,
  ImageLoader,
  ItemInput,
  SnapshotChange,
  SnapshotStore,
  SnapshotView,
  StoredItem,
} from '../ports';
import type { DebouncedPublisher } from '../publisher';
import type { ThumbnailStore } from '../thumbnails';
import { loadableRef, type BlobStore } from '../source-ref';
import {
  forEachLimited,
  recordFailure,
  type ItemCounters,
  type ItemFailure,
  type JobContext,
  type ProcessOutcome,
} from './common';

export interface ReindexDeps {
  images: ImageLoader;
  embedder: ImageEmbedder;
  store: Pick<SnapshotStore, 'latest'>;
  publisher: Pick<DebouncedPublisher, 'submit' | 'pendingHashOf' | 'flush'>;
  blobs: Pick<BlobStore, 'get' | 'collect'>;
  counters: ItemCounters;
  itemConcurrency: number;
  /** Unreferenced upload blobs older than this are removed after a reindex. */
  blobGraceMs?: number;
  /** Thumbnails of items a model-change reindex drops are removed (none in tests that do not care). */
  thumbnails?: Pick<ThumbnailStore, 'remove'>;
}

/** Rounds of catching up with items changed while a model-change reindex ran. */
const MAX_CATCH_UP_ROUNDS = 3;

function itemsOf(snapshot: SnapshotView): StoredItem[] {
  const items: StoredItem[] = [];
  for (const id of snapshot.ids()) {
    const item = snapshot.get(id);
    if (item) items.push(item);
  }
  return items;
}

/**
 * Re-embeds stored items from their `source` (snapshots from before that field have it read back
 * from their legacy `_source` metadata by the index store); results keyed by id.
 */
class Reembedder {
  readonly embedded = new Map<string, ItemInput>();
  /** The stored content hash each embedding was made from (to notice later changes). */
  readonly basis = new Map<string, string>();
  readonly permanent = new Map<string, ItemFailure>();
  transient: ItemFailure[] = [];

  constructor(
    private readonly context: JobContext,
    private readonly deps: ReindexDeps,
  ) {}

  /** Returns false when shutdown stopped it before every item was started. */
  async run(items: StoredItem[], onDone: () => void): Promise<boolean> {
    const { deps, context } = this;
    const model = deps.embedder.model;
    const failed: ItemFailure[] = [];
    const transient: ItemFailure[] = [];
    const started = await forEachLimited(items, deps.itemConcurrency, context.shutdown, async (item) => {
      try {
        const { source } = item;
        if (!source) throw new MissingSourceError(item.id, 'no source stored with the item');
        const ref = await loadableRef(item.id, source, deps.blobs);
        const bytes = 'bytes' in ref ? ref.bytes : await deps.images.load(ref);
        const { vector, colour } = await deps.embedder.embed(bytes);
        this.embedded.set(item.id, {
          id: item.id,
          vector,
          colour,
          metadata: item.metadata,
          source,
          contentHash: itemContentHash(bytes, item.metadata, source, model),
        });
        this.permanent.delete(item.id);
        deps.counters.embedded();
      } catch (err) {
        this.embedded.delete(item.id);
        recordFailure(item.id, err, context, failed, transient, deps.counters);
      } finally {
        this.basis.set(item.id, item.contentHash);
        onDone();
      }
    });
    for (const f of failed) this.permanent.set(f.id, f);
    this.transient.push(...transient);
    return started === items.length;
  }
}

/**
 * Re-embeds every item of the latest snapshot from its stored source ref (after a model or
 * preprocessing change) and publishes all of them in ONE change, so readers switch from the old
 * vectors to the new ones atomically. Nothing is published when the job is handed back or retried.
 *
 * Same model: items changed by other jobs while the reindex ran keep their newer content; items
 * whose image cannot be loaded any more keep their vectors and are listed as failed.
 * Model changed: the snapshot is replaced as a whole (`replaceAll`), after catching up with items
 * added or changed meanwhile; items whose image cannot be loaded are dropped (their old vectors are
 * from another model) and listed as failed.
 */
export async function processReindex(context: JobContext, deps: ReindexDeps): Promise<ProcessOutcome> {
  const snapshot = await deps.store.latest();
  if (!snapshot) {
    context.progress(1, 1);
    return { kind: 'done', result: emptyJobResult() };
  }
  const model = deps.embedder.model;
  const modelChanged = !sameModel(snapshot.model, model);
  const items = itemsOf(snapshot);
  context.logger.info(
    { items: items.length, fromVersion: snapshot.version, modelChanged, model: model.id },
    'reindex started',
  );

  const work = new Reembedder(context, deps);
  let done = 0;
  let total = items.length;
  const tick = () => context.progress(++done, total);
  if (!(await work.run(items, tick))) {
    return { kind: 'handBack', result: emptyJobResult(), remaining: items.length - done };
  }

  // Items a newer job changed while this one ran (they keep that job's content).
  const superseded: string[] = [];
  let change: SnapshotChange;
  if (!modelChanged) {
    // A newer upsert or delete must not be overwritten by this job's copy of the old item.
    const fresh = await deps.store.latest();
    const kept: ItemInput[] = [];
    for (const [id, input] of work.embedded) {
      const unchanged =
        deps.publisher.pendingHashOf(id) === undefined && fresh?.get(id)?.contentHash === work.basis.get(id);
      if (unchanged) kept.push(input);
      else superseded.push(id);
    }
    if (superseded.length) {
      context.logger.info(
        { superseded: superseded.length },
        'items changed during the reindex keep their newer content',
      );
    }
    change = { upserts: kept, deletes: [] };
  } else {
    // Catch up with what other jobs published meanwhile (with the old model's vectors), then
    // replace everything: the new snapshot must not hold a single vector of the old model.
    for (let round = 0; round < MAX_CATCH_UP_ROUNDS; round++) {
      const fresh = await deps.store.latest();
      if (!fresh) break;
      const freshIds = new Set(fresh.ids());
      for (const id of [...work.embedded.keys(), ...work.permanent.keys()]) {
        if (!freshIds.has(id)) {
          work.embedded.delete(id);
          work.permanent.delete(id);
        }
      }
      const stale = itemsOf(fresh).filter((item) => work.basis.get(item.id) !== item.contentHash);
      if (stale.length === 0) break;
      context.logger.info({ items: stale.length, round }, 'reindex catching up with items changed meanwhile');
      total += stale.length;
      if (!(await work.run(stale, tick))) {
        return { kind: 'handBack', result: emptyJobResult(), remaining: total - done };
      }
    }
    change = { upserts: [...work.embedded.values()], deletes: [], replaceAll: true };
  }
  if (work.transient.length > 0) {
    const result = buildJobResult({ unchanged: superseded, failed: [...work.permanent.values()] });
    return { kind: 'retry', result, transient: work.transient };
  }

  let version: number | null = null;
  if (change.upserts.length > 0 || change.replaceAll) {
    const submitted = deps.publisher.submit(change);
    await deps.publisher.flush();
    const published = await submitted;
    version = published.version;
  }
  const result = buildJobResult({
    indexed: change.upserts.map((u) => u.id),
    unchanged: superseded,
    failed: [...work.permanent.values()],
    version,
  });
  const after = await deps.store.latest();
  // After a model change, items that could not be re-embedded left the index: so do their thumbnails.
  if (modelChanged) await removeThumbnailsOfDropped(context, deps, after, [...work.permanent.keys()]);
  await collectBlobs(context, deps, after);
  context.logger.info(
    { indexed: result.counts.indexed, failed: result.counts.failed, version: result.version, modelChanged },
    'reindex done',
  );
  return { kind: 'done', result };
}

/** Removes the thumbnails of `ids` that the newest snapshot does not hold (an upsert may have re-added one). */
async function removeThumbnailsOfDropped(
  context: JobContext,
  deps: ReindexDeps,
  after: SnapshotView | null,
  ids: string[],
): Promise<void> {
  if (!deps.thumbnails || ids.length === 0) return;
  const gone = ids.filter((id) => !after?.get(id));
  await deps.thumbnails
    .remove(gone)
    .catch((err: unknown) => context.logger.warn({ err }, 'thumbnails not removed'));
}

/** Removes uploaded image bytes that no item of the newest snapshot (`after`) refers to any more. */
async function collectBlobs(
  context: JobContext,
  deps: ReindexDeps,
  after: SnapshotView | null,
): Promise<void> {
  if (!after) return;
  const referenced = new Set<string>();
  for (const id of after.ids()) {
    const source = after.get(id)?.source;
    if (source && 'blob' in source) referenced.add(source.blob);
  }
  const removed = await deps.blobs.collect(referenced, deps.blobGraceMs ?? 3_600_000);
  if (removed > 0) context.logger.info({ removed }, 'unreferenced upload blobs removed');
}
