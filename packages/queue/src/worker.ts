import { isLookalikeError } from '@lookalike/config';
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { CATALOGUE_QUEUE } from './catalogue-queue';
import { AllItemsFailedError, InvalidJobError } from './errors';
import { percentOf, type JobResult, type ProgressWithFailure } from './job-result';
import { parseCatalogueJob, type CatalogueJob, type CatalogueJobKind } from './schemas';

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

/** How long a failing job waits to leave its failure record before failing without one. */
const FAILURE_RECORD_TIMEOUT_MS = 5_000;

/**
 * Leaves the code (and the result, when the job ran its items) on a job that fails for good, where
 * CatalogueQueue.getJob reads it back. Best effort: a job whose record cannot be written still fails.
 */
async function recordFailure(
  handle: Pick<CatalogueJobHandle, 'progress' | 'updateProgress'>,
  code: string,
  result: JobResult | null,
): Promise<void> {
  const progress: ProgressWithFailure = { percent: percentOf(handle.progress), failure: { code, result } };
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, FAILURE_RECORD_TIMEOUT_MS);
  });
  await Promise.race([handle.updateProgress(progress).catch(() => undefined), expiry]).finally(() =>
    clearTimeout(timer),
  );
}

/**
 * A BullMQ worker on the catalogue queue whose processor gets validated job data. Permanent
 * failures skip the remaining attempts: invalid job data, and any LookalikeError with
 * `permanent: true` thrown by the processor, are rethrown as BullMQ's UnrecoverableError (the job
 * fails at once with the original message, and its code — with the result, for AllItemsFailedError —
 * is kept on the job for getJob); anything else is retried with the queue's backoff.
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
        if (err instanceof InvalidJobError) {
          await recordFailure(handle, err.code, null);
          throw new UnrecoverableError(err.message);
        }
        throw err;
      }
      try {
        return await processor(job, { handle, signal });
      } catch (err) {
        if (isLookalikeError(err) && err.permanent) {
          await recordFailure(handle, err.code, err instanceof AllItemsFailedError ? err.result : null);
          throw new UnrecoverableError(`${err.code}: ${err.message}`);
        }
        throw err;
      }
    },
    { ...workerOptions, connection, prefix },
  );
}
