import type { Logger } from '@lookalike/config';
import { sameModel } from '@lookalike/contracts';
import type { CatalogueQueue } from '@lookalike/queue';
import type { ModelIdentity, SnapshotStore } from './ports';

/** The id of the reindex to `model`: the same on every replica, and one BullMQ accepts. */
export function reindexJobId(model: ModelIdentity): string {
  return `reindex-to-${model.id}-${model.sha256.slice(0, 16)}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * After a model change the published snapshot holds the old model's vectors and every upsert waits
 * (deferred) until a reindex replaces it. This queues that reindex once: the job id is derived from
 * the new model, so replicas starting together add one job, not one each.
 * Returns the job id when a reindex was needed, else null.
 */
export async function queueReindexIfModelChanged(options: {
  store: Pick<SnapshotStore, 'latest'>;
  model: ModelIdentity;
  queue: Pick<CatalogueQueue, 'enqueueOnce'>;
  logger: Logger;
}): Promise<string | null> {
  const snapshot = await options.store.latest();
  if (!snapshot || sameModel(snapshot.model, options.model)) return null;
  const jobId = await options.queue.enqueueOnce({ kind: 'reindex' }, reindexJobId(options.model));
  options.logger.warn(
    { snapshotModel: snapshot.model.id, model: options.model.id, version: snapshot.version, jobId },
    'the published snapshot was built with another model: reindex queued; upserts wait until it is published',
  );
  return jobId;
}
