import { DelayedError, WaitingError } from 'bullmq';
import { isLookalikeError, type Logger } from '@lookalike/config';
import {
  createCatalogueWorker as createQueueWorker,
  AllItemsFailedError,
  allItemsFailed,
  createRedisConnection,
  emptyJobResult,
  type CatalogueJob,
  type CatalogueJobHandle,
} from '@lookalike/queue';
import { TransientBatchError } from './errors';
import type { IndexerMetrics } from './metrics';
import {
  MODEL_CHANGE_DEFER_MS,
  type ItemCounters,
  type JobContext,
  type ProcessOutcome,
} from './processors/common';
import { processDelete, type DeleteDeps } from './processors/delete';
import { processReindex, type ReindexDeps } from './processors/reindex';
import { processUpsert, type UpsertDeps } from './processors/upsert';
import type { JobResult } from './ports';

export type ProcessorDeps = UpsertDeps & ReindexDeps & DeleteDeps & { counters: ItemCounters };

export interface JobHandlerOptions {
  deps: ProcessorDeps;
  logger: Logger;
  metrics?: IndexerMetrics;
  /** Aborted on SIGTERM: running jobs hand themselves back, new ones are returned at once. */
  shutdown: AbortSignal;
  /** Minimum ms between progress writes to Redis for one job. */
  progressIntervalMs?: number;
}

/**
 * Progress writes are throttled, never awaited by the item loop, and never fail the job: during a
 * Redis outage they simply do not happen (at most one is outstanding at a time).
 */
function progressReporter(
  job: Pick<CatalogueJobHandle, 'updateProgress'>,
  intervalMs: number,
  logger: Logger,
): (done: number, total: number) => void {
  let lastWrite = 0;
  let writing = false;
  let lastPercent = -1;
  return (done, total) => {
    const percent = total === 0 ? 100 : Math.floor((100 * done) / total);
    const now = Date.now();
    if (writing || percent === lastPercent || (percent < 100 && now - lastWrite < intervalMs)) return;
    writing = true;
    lastWrite = now;
    lastPercent = percent;
    job
      .updateProgress(percent)
      .catch((err: unknown) => logger.debug({ err }, 'progress update failed (ignored)'))
      .finally(() => {
        writing = false;
      });
  };
}

function isFinalAttempt(job: Pick<CatalogueJobHandle, 'attemptsMade' | 'opts'>): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

export type JobHandler = (job: CatalogueJob, context: { handle: CatalogueJobHandle }) => Promise<JobResult>;

/**
 * The catalogue processor: runs the processor for the (already validated) job's kind and turns the
 * outcome into what BullMQ understands — a return value (completed), a thrown transient error
 * (retry with the queue's backoff), or moveToWait + WaitingError (handed back on shutdown).
 * A job whose every item failed throws AllItemsFailedError (permanent). Invalid jobs and permanent
 * errors become UnrecoverableError in @lookalike/queue's wrapper.
 */
export function createJobHandler(options: JobHandlerOptions): JobHandler {
  const { deps, logger, metrics, shutdown } = options;
  const intervalMs = options.progressIntervalMs ?? 500;
  return async (data, { handle }) => {
    const log = logger.child({ jobId: handle.id, attempt: handle.attemptsMade + 1 });
    const context: JobContext = {
      jobId: String(handle.id),
      logger: log,
      finalAttempt: isFinalAttempt(handle),
      shutdown,
      progress: progressReporter(handle, intervalMs, log),
      rerunOfJobCreatedAt:
        handle.attemptsMade > 0 || handle.attemptsStarted > 1 ? handle.timestamp : undefined,
    };
    const started = performance.now();
    const size =
      data.kind === 'upsert' ? data.items.length : data.kind === 'delete' ? data.ids.length : undefined;
    log.info({ kind: data.kind, items: size }, 'job started');
    let outcome: ProcessOutcome;
    try {
      if (shutdown.aborted) outcome = { kind: 'handBack', result: emptyJobResult(), remaining: size ?? 1 };
      else if (data.kind === 'upsert') outcome = await processUpsert(data.items, context, deps);
      else if (data.kind === 'delete') outcome = await processDelete(data.ids, context, deps);
      else outcome = await processReindex(context, deps);
    } catch (err) {
      if (isLookalikeError(err) && err.code === 'MODEL_MISMATCH') {
        // Another replica published a snapshot of a different model meanwhile (a rolling model
        // change): this job must wait for that model's workers, not fail.
        outcome = {
          kind: 'defer',
          result: emptyJobResult(),
          delayMs: MODEL_CHANGE_DEFER_MS,
          reason: err.message,
        };
      } else {
        metrics?.jobs.inc({ kind: data.kind, outcome: 'error' });
        log.warn(
          { err, code: isLookalikeError(err) ? err.code : undefined },
          'job attempt failed; BullMQ retries it if attempts remain',
        );
        throw err;
      }
    }
    const summary = {
      kind: data.kind,
      ...outcome.result.counts,
      version: outcome.result.version,
      durationMs: Math.round(performance.now() - started),
    };
    if (outcome.kind === 'handBack') {
      metrics?.jobs.inc({ kind: data.kind, outcome: 'handed_back' });
      log.info(
        { ...summary, remaining: outcome.remaining },
        'shutting down: finished items published, job handed back',
      );
      if (handle.token !== undefined) await handle.moveToWait(handle.token);
      throw new WaitingError();
    }
    if (outcome.kind === 'defer') {
      metrics?.jobs.inc({ kind: data.kind, outcome: 'deferred' });
      log.info({ ...summary, delayMs: outcome.delayMs, reason: outcome.reason }, 'job deferred');
      if (handle.token !== undefined) await handle.moveToDelayed(Date.now() + outcome.delayMs, handle.token);
      throw new DelayedError();
    }
    if (outcome.kind === 'retry') {
      metrics?.jobs.inc({ kind: data.kind, outcome: 'retried' });
      log.info(
        { ...summary, transient: outcome.transient.length },
        'transient item failures; job will be retried',
      );
      throw new TransientBatchError(outcome.transient);
    }
    context.progress(1, 1);
    if (allItemsFailed(outcome.result)) {
      // Not "completed": nothing the job was given made it into the index. The failures are final
      // (permanent, or attempts used up), so the job fails for good with the result kept.
      metrics?.jobs.inc({ kind: data.kind, outcome: 'failed' });
      log.warn(summary, 'job failed: every item failed');
      throw new AllItemsFailedError(outcome.result);
    }
    metrics?.jobs.inc({ kind: data.kind, outcome: 'completed' });
    log.info(summary, 'job done');
    return outcome.result;
  };
}

export interface CatalogueWorkerOptions {
  redisUrl: string;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  name: string;
}

/**
 * The BullMQ Worker on the catalogue queue, not started until `run()` (autorun off). Its Redis
 * connection reconnects forever and queues commands while Redis is down, so a restart of Redis is
 * ridden out. Close the worker, then the returned connection.
 */
export function createCatalogueWorker(
  handler: JobHandler,
  options: CatalogueWorkerOptions,
): { worker: ReturnType<typeof createQueueWorker>; connection: ReturnType<typeof createRedisConnection> } {
  const connection = createRedisConnection(options.redisUrl, 'worker');
  const worker = createQueueWorker(
    {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      maxStalledCount: options.maxStalledCount,
      name: options.name,
      autorun: false,
    },
    (job, { handle }) => handler(job, { handle }),
  );
  return { worker, connection };
}
