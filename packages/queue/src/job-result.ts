/**
 * The result contract of a catalogue job (BullMQ's returnvalue, served by GET /v1/jobs/:id).
 *
 * A result's size must not grow with the catalogue: a reindex touches every item, and listing every
 * id made one result 47 KB at 6 k items. So counts are always exact, while each id list (and the
 * list of failures) holds at most a fixed number of entries — the first ones in id order, so the
 * sample is the same whichever order the items finished in — with a flag saying it was cut.
 */

/** At most this many ids per list (indexed, unchanged, deleted, notFound). */
export const JOB_RESULT_MAX_IDS = 100;
/** At most this many per-item failures are listed; `counts.failed` is the exact total. */
export const JOB_RESULT_MAX_FAILURES = 100;
/** A failure's reason is cut to this many characters (an upstream error page must not bloat it). */
export const JOB_RESULT_MAX_REASON_LENGTH = 500;

/**
 * Why a job failed as a whole when every item it was given failed. Not retried: the item failures
 * are permanent by then (transient ones are retried while attempts remain, and count as final on
 * the last attempt).
 */
export const ALL_ITEMS_FAILED = 'ALL_ITEMS_FAILED';

export interface ItemFailure {
  id: string;
  /** Stable code, e.g. IMAGE_CORRUPT, SOURCE_NOT_FOUND, SOURCE_HTTP_ERROR. */
  code: string;
  /** Human-readable detail; at most JOB_RESULT_MAX_REASON_LENGTH characters. */
  reason: string;
}

export const JOB_RESULT_LISTS = ['indexed', 'unchanged', 'deleted', 'notFound', 'failed'] as const;
export type JobResultList = (typeof JOB_RESULT_LISTS)[number];

export type JobResultCounts = Record<JobResultList, number>;
export type JobResultTruncation = Record<JobResultList, boolean>;

/** What the indexer worker returns for a job. */
export interface JobResult {
  /** Exact numbers, whatever the lists below hold. */
  counts: JobResultCounts;
  /** Items embedded and published by this job (first JOB_RESULT_MAX_IDS by id). */
  indexed: string[];
  /** Items whose image, metadata and model were already indexed (or, in a reindex, changed by a newer job). */
  unchanged: string[];
  /** Ids removed from the index. */
  deleted: string[];
  /** Deleted ids the index did not have (not an error). */
  notFound: string[];
  /** Items that could not be indexed, with a stable code (first JOB_RESULT_MAX_FAILURES by id). */
  failed: ItemFailure[];
  /** True for a list that holds fewer entries than its count. */
  truncated: JobResultTruncation;
  /** Snapshot version published by the job; null when nothing changed. */
  version: number | null;
}

/** What a processor collected, in full; `buildJobResult` turns it into the bounded result. */
export interface JobOutcomeLists {
  indexed?: readonly string[];
  unchanged?: readonly string[];
  deleted?: readonly string[];
  notFound?: readonly string[];
  failed?: readonly ItemFailure[];
  version?: number | null;
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function firstIds(ids: readonly string[]): string[] {
  // Sorting all of them to take the first few is O(n log n) on at most a catalogue's ids: cheap.
  return [...ids].sort(byCodeUnits).slice(0, JOB_RESULT_MAX_IDS);
}

function capReason(reason: string): string {
  if (reason.length <= JOB_RESULT_MAX_REASON_LENGTH) return reason;
  return `${reason.slice(0, JOB_RESULT_MAX_REASON_LENGTH - 1)}…`;
}

/** The bounded result of a job: exact counts, capped and sorted lists, a truncation flag per list. */
export function buildJobResult(lists: JobOutcomeLists = {}): JobResult {
  const ids = {
    indexed: lists.indexed ?? [],
    unchanged: lists.unchanged ?? [],
    deleted: lists.deleted ?? [],
    notFound: lists.notFound ?? [],
  };
  const failures = lists.failed ?? [];
  const failed = [...failures]
    .sort((a, b) => byCodeUnits(a.id, b.id))
    .slice(0, JOB_RESULT_MAX_FAILURES)
    .map((f) => ({ id: f.id, code: f.code, reason: capReason(f.reason) }));
  const counts: JobResultCounts = {
    indexed: ids.indexed.length,
    unchanged: ids.unchanged.length,
    deleted: ids.deleted.length,
    notFound: ids.notFound.length,
    failed: failures.length,
  };
  return {
    counts,
    indexed: firstIds(ids.indexed),
    unchanged: firstIds(ids.unchanged),
    deleted: firstIds(ids.deleted),
    notFound: firstIds(ids.notFound),
    failed,
    truncated: {
      indexed: counts.indexed > JOB_RESULT_MAX_IDS,
      unchanged: counts.unchanged > JOB_RESULT_MAX_IDS,
      deleted: counts.deleted > JOB_RESULT_MAX_IDS,
      notFound: counts.notFound > JOB_RESULT_MAX_IDS,
      failed: counts.failed > JOB_RESULT_MAX_FAILURES,
    },
    version: lists.version ?? null,
  };
}

/** A result that lists nothing: what a job that did nothing returns. */
export function emptyJobResult(): JobResult {
  return buildJobResult();
}

/** True when the job was given at least one item and every one of them failed. */
export function allItemsFailed(result: JobResult): boolean {
  const { counts } = result;
  const succeeded = counts.indexed + counts.unchanged + counts.deleted + counts.notFound;
  return counts.failed > 0 && succeeded === 0;
}

/**
 * Why a job failed for good, as the worker leaves it in the job's progress field: BullMQ keeps no
 * return value for a failed job, and the progress field is the one a worker may write that is
 * removed with the job.
 */
export interface JobFailureRecord {
  code: string;
  /** The result of a job that ran its items and failed as a whole (ALL_ITEMS_FAILED). */
  result: JobResult | null;
}

/** The progress value that carries a failure record (the percent done is kept beside it). */
export interface ProgressWithFailure {
  percent: number;
  failure: JobFailureRecord;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The failure record in a job's progress value, or null when it holds none. */
export function failureRecordOf(progress: unknown): JobFailureRecord | null {
  if (!isRecord(progress) || !isRecord(progress.failure)) return null;
  const { code, result } = progress.failure;
  if (typeof code !== 'string') return null;
  return {
    code,
    result: isRecord(result) && isRecord(result.counts) ? (result as unknown as JobResult) : null,
  };
}

/** The percent done in a job's progress value (a number, or a failure record's percent); 0 otherwise. */
export function percentOf(progress: unknown): number {
  const value = isRecord(progress) ? progress.percent : progress;
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(100, Math.max(0, value)) : 0;
}
