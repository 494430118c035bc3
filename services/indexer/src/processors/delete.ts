import { buildJobResult } from '@lookalike/queue';
import type { ImageEmbedder, SnapshotStore } from '../ports';
import type { DebouncedPublisher } from '../publisher';
import type { ThumbnailStore } from '../thumbnails';
import { deferForModelChange, type JobContext, type ProcessOutcome } from './common';

export interface DeleteDeps {
  publisher: Pick<DebouncedPublisher, 'submit'>;
  store: Pick<SnapshotStore, 'latest'>;
  embedder: Pick<ImageEmbedder, 'model'>;
  thumbnails?: Pick<ThumbnailStore, 'remove'>;
}

/** Removes ids from the index; ids it did not have are listed as notFound, never an error. */
export async function processDelete(
  ids: readonly string[],
  context: JobContext,
  deps: DeleteDeps,
): Promise<ProcessOutcome> {
  const snapshot = await deps.store.latest();
  const deferred = snapshot && deferForModelChange(snapshot.model, deps.embedder.model, context);
  if (deferred) return deferred;
  const unique = [...new Set(ids)];
  const published = await deps.publisher.submit({ upserts: [], deletes: unique });
  const result = buildJobResult({
    deleted: published.deleted,
    notFound: published.notFound,
    version: published.version,
  });
  // After the publish: the API serves a thumbnail only for items of the live snapshot anyway.
  await deps.thumbnails
    ?.remove(published.deleted)
    .catch((err: unknown) => context.logger.warn({ err }, 'thumbnails not removed'));
  context.progress(unique.length, unique.length);
  context.logger.info(
    { deleted: result.counts.deleted, notFound: result.counts.notFound },
    'delete job done',
  );
  return { kind: 'done', result };
}
