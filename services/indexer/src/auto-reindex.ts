import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@lookalike/config';
import { CATALOGUE_QUEUE, DEFAULT_JOB_OPTIONS } from '@lookalike/queue';
import type { ModelIdentity, SnapshotStore } from './ports';
import { sameModel } from './processors/reindex';

/**
 * After a model change the published snapshot holds the old model's vectors and every upsert waits
 * (deferred) until a reindex replaces it. This queues that reindex once: the job id is derived from
 * the new model, so replicas starting together add one job, not one each.
 * Returns the job id when a reindex was needed, else null.
 */
export async function queueReindexIfModelChanged(options: {
  store: Pick<SnapshotStore, 'latest'>;
  model: ModelIdentity;
  connection: Redis;
  prefix: string;
  logger: Logger;
}): Promise<string | null> {
  const snapshot = await options.store.latest();
  if (!snapshot || sameModel(snapshot.model, options.model)) return null;
  const jobId = `reindex-to-${options.model.id}-${options.model.sha256.slice(0, 16)}`.replace(
    /[^A-Za-z0-9_.-]/g,
    '_',
  );
  const queue = new Queue(CATALOGUE_QUEUE, { connection: options.connection, prefix: options.prefix });
  queue.on('error', (err) => options.logger.warn({ err }, 'queue error while adding the reindex job'));
  try {
    await queue.add('reindex', { kind: 'reindex' }, { ...DEFAULT_JOB_OPTIONS, jobId });
  } finally {
    await queue.close();
  }
  options.logger.warn(
    { snapshotModel: snapshot.model.id, model: options.model.id, version: snapshot.version, jobId },
    'the published snapshot was built with another model: reindex queued; upserts wait until it is published',
  );
  return jobId;
}
