import { isLookalikeError } from '@lookalike/config';
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { CATALOGUE_QUEUE } from './catalogue-queue';
import { InvalidJobError } from './errors';
import { parseCatalogueJob, type CatalogueJob, type CatalogueJobKind, type JobResult } from './schemas';

export type CatalogueJobHandle = Job<CatalogueJob, JobResult, CatalogueJobKind>;
export type CatalogueProcessor = (
  job: CatalogueJob,
  context: { handle: CatalogueJobHandle; signal: AbortSignal | undefined },
) => Promise<JobResult>;

export type CatalogueWorker = Worker<CatalogueJob, JobResult, CatalogueJobKind>;

export interface CatalogueWorkerOptions extends Omit<
  WorkerOptions,
  'connection' | 'prefix' | 'removeOnComplete' | 'removeOnFail'
> {
  /** A connection from createRedisConnection(url, 'worker'); the caller closes it. */
  connection: Redis;
  prefix: string;
}

/**
 * A BullMQ worker on the catalogue queue whose processor gets validated job data. Permanent
 * failures skip the remaining attempts: invalid job data, and any LookalikeError with
 * `permanent: true` thrown by the processor, are rethrown as BullMQ's UnrecoverableError (the job
 * fails at once with the original message); anything else is retried with the queue's backoff.
 */
export function createCatalogueWorker(
  options: CatalogueWorkerOptions,
  processor: CatalogueProcessor,
): CatalogueWorker {
  const { connection, prefix, ...workerOptions } = options;
  return new Worker<CatalogueJob, JobResult, CatalogueJobKind>(
    CATALOGUE_QUEUE,
    async (handle, _token, signal) => {
      let job: CatalogueJob;
      try {
        job = parseCatalogueJob(handle.data);
      } catch (err) {
        if (err instanceof InvalidJobError) throw new UnrecoverableError(err.message);
        throw err;
      }
      try {
        return await processor(job, { handle, signal });
      } catch (err) {
        if (isLookalikeError(err) && err.permanent)
          throw new UnrecoverableError(`${err.code}: ${err.message}`);
        throw err;
      }
    },
    { ...workerOptions, connection, prefix },
  );
}
