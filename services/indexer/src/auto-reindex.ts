import { isLookalikeError, type Logger } from '@lookalike/config';
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
  let snapshot: Awaited<ReturnType<SnapshotStore['latest']>>;
  try {
    snapshot = await options.store.latest();
  } catch (err) {
    // A corrupt CURRENT must not crash-loop the indexer: it stays up (health, metrics, a clear failure
    // reason on every job) until an operator points CURRENT back at a good version.
    if (!(isLookalikeError(err) && err.code === 'SNAPSHOT_CORRUPT')) throw err;
    options.logger.error(
      { err, code: err.code, ...err.details },
      'CURRENT names a snapshot that fails verification: every publish fails until CURRENT points at a ' +
        'good version again (README: Failure behaviour)',
    );
    return null;
  }
  if (!snapshot || sameModel(snapshot.model, options.model)) return null;
  const jobId = await options.queue.enqueueOnce({ kind: 'reindex' }, reindexJobId(options.model));
  options.logger.warn(
    { snapshotModel: snapshot.model.id, model: options.model.id, version: snapshot.version, jobId },
    'the published snapshot was built with another model: reindex queued; upserts wait until it is published',
  );
  return jobId;
}
