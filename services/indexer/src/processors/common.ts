import type { Logger } from '@lookalike/config';
import { sameModel, type ModelIdentity } from '@lookalike/contracts';
import { emptyJobResult, type ItemFailure } from '@lookalike/queue';
import { classifyFailure } from '../errors';
import type { JobResult } from '../ports';

/** What a processor knows about the BullMQ job it runs, without depending on BullMQ. */
export interface JobContext {
  jobId: string;
  logger: Logger;
  /** No attempt follows this one: transient item failures become final failures in the result. */
  finalAttempt: boolean;
  /** Aborted on SIGTERM: start no new items, publish what is done, hand the job back. */
  shutdown: AbortSignal;
  /** Items finished (any outcome) out of total; throttled and best-effort (Redis may be down). */
  progress(done: number, total: number): void;
  /**
   * Set when this job ran before (a retry, a stalled or handed-back run): the job's creation time in
   * ms. Items this job already published in an earlier run are then reported as indexed, not as
   * unchanged.
   */
  rerunOfJobCreatedAt?: number;
}

export type { ItemFailure };

/** Counters the processors bump; backed by prom-client in the service. */
export interface ItemCounters {
  embedded(count?: number): void;
  unchanged(count?: number): void;
  failed(code: string): void;
}

export const noCounters: ItemCounters = { embedded: () => {}, unchanged: () => {}, failed: () => {} };

/**
 * How a processor ended. `retry`: some items failed transiently and attempts remain — the successes
 * are published, the job must be thrown back to BullMQ for a retry with backoff. `handBack`: the
 * process is shutting down — the successes are published, the job goes back to the queue unfinished.
 * `defer`: the job cannot run yet (the index holds another model's vectors until a reindex replaces
 * them); it goes back to the queue for `delayMs` without using up an attempt.
 */
export type ProcessOutcome =
  | { kind: 'done'; result: JobResult }
  | { kind: 'defer'; result: JobResult; delayMs: number; reason: string }
  | { kind: 'retry'; result: JobResult; transient: ItemFailure[] }
  | { kind: 'handBack'; result: JobResult; remaining: number };

/**
 * Runs `fn` over `items` with at most `limit` in flight, starting no new item once `stop` is
 * aborted. Returns how many items were started.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  stop: AbortSignal,
  fn: (item: T, index: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (!stop.aborted) {
      const index = next++;
      if (index >= items.length) return;
      await fn(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return Math.min(next, items.length);
}

/** Sorts a failure into the permanent list or the retry list, honouring the attempt budget. */
export function recordFailure(
  id: string,
  err: unknown,
  context: JobContext,
  permanent: ItemFailure[],
  transient: ItemFailure[],
  counters: ItemCounters,
): void {
  const failure = classifyFailure(err);
  const entry = { id, code: failure.code, reason: failure.reason };
  if (failure.permanent || context.finalAttempt) {
    permanent.push(entry);
    counters.failed(failure.code);
    context.logger.warn({ itemId: id, code: failure.code, reason: failure.reason }, 'item failed');
  } else {
    transient.push(entry);
    context.logger.info(
      { itemId: id, code: failure.code, reason: failure.reason },
      'item failed transiently; will retry',
    );
  }
}

/** How long a job waits before looking again whether the model-change reindex has been published. */
export const MODEL_CHANGE_DEFER_MS = 10_000;

/**
 * Incremental changes cannot be published on top of a snapshot of another model (the index store
 * refuses them); they wait for the reindex that replaces it.
 */
export function deferForModelChange(
  snapshotModel: ModelIdentity,
  model: ModelIdentity,
  context: JobContext,
): ProcessOutcome | null {
  if (sameModel(snapshotModel, model)) return null;
  const reason = `the index holds vectors of model ${snapshotModel.id}, this worker embeds with ${model.id}; waiting for a reindex`;
  context.logger.warn(
    { snapshotModel: snapshotModel.id, model: model.id },
    'job deferred until a reindex replaces the snapshot',
  );
  return { kind: 'defer', result: emptyJobResult(), delayMs: MODEL_CHANGE_DEFER_MS, reason };
}
