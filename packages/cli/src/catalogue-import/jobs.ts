import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ALL_ITEMS_FAILED,
  type CatalogueItemInput,
  type CatalogueQueue,
  type JobResult,
  type JobStatus,
} from '@lookalike/queue';
import type { CsvRow } from './csv';

/** Keeps one job's inline images well under the queue's per-job limit (50 M characters). */
const MAX_BASE64_CHARS_PER_JOB = 40_000_000;

export interface ImportTotals {
  items: number;
  jobs: number;
  indexed: number;
  unchanged: number;
  /** Items that failed, exactly. */
  failedItems: number;
  /** The failures the jobs listed (each job lists at most JOB_RESULT_MAX_FAILURES of its own). */
  failed: Array<{ id: string; code: string; reason: string }>;
  failedJobs: Array<{ jobId: string; items: number; reason: string }>;
  skipped: Array<{ line: number; reason: string }>;
  missingImages: string[];
  version: number | null;
  seconds: number;
}

export interface EnqueuedJob {
  jobId: string;
  items: number;
  status: JobStatus | null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Builds item batches (≤ batchSize items, bounded inline bytes) and enqueues them one by one. */
export async function enqueueAll(
  queue: Pick<CatalogueQueue, 'enqueue'>,
  rows: CsvRow[],
  options: { base64?: boolean; batchSize: number; images: string },
  onEnqueued: (items: number) => void,
): Promise<EnqueuedJob[]> {
  const jobs: EnqueuedJob[] = [];
  let batch: CatalogueItemInput[] = [];
  let batchChars = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const jobId = await queue.enqueue({ kind: 'upsert', items: batch });
    jobs.push({ jobId, items: batch.length, status: null });
    onEnqueued(batch.length);
    batch = [];
    batchChars = 0;
  };
  for (const row of rows) {
    let item: CatalogueItemInput;
    if (options.base64) {
      const imageBase64 = (await readFile(path.join(options.images, row.imagePath))).toString('base64');
      if (batchChars + imageBase64.length > MAX_BASE64_CHARS_PER_JOB) await flush();
      batchChars += imageBase64.length;
      item = { id: row.id, metadata: row.metadata, imageBase64 };
    } else {
      item = { id: row.id, metadata: row.metadata, imagePath: row.imagePath };
    }
    batch.push(item);
    if (batch.length >= options.batchSize) await flush();
  }
  await flush();
  return jobs;
}

/**
 * Polls the jobs until each is completed or failed. Redis being briefly unreachable (a restart) is
 * ridden out: polling errors are retried until the deadline.
 */
export async function waitForJobs(
  queue: Pick<CatalogueQueue, 'getJob'>,
  jobs: EnqueuedJob[],
  timeoutMs: number,
  onProgress: (itemsDone: number) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    let pending = 0;
    let done = 0;
    try {
      for (const job of jobs) {
        if (job.status?.state !== 'completed' && job.status?.state !== 'failed') {
          job.status = await queue.getJob(job.jobId);
        }
        const state = job.status?.state;
        if (state === 'completed' || state === 'failed') done += job.items;
        else {
          pending++;
          done += Math.floor(((job.status?.progress ?? 0) / 100) * job.items);
        }
      }
      lastError = null;
      onProgress(done);
      if (pending === 0) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`gave up waiting after ${Math.round(timeoutMs / 1000)} s${why}; the jobs keep running`);
    }
    await sleep(lastError ? 1000 : 500);
  }
}

/** Adds the finished jobs' results (or why a job did not finish) to the totals. */
export function summarise(jobs: EnqueuedJob[], totals: ImportTotals): void {
  for (const job of jobs) {
    const status = job.status;
    // A job whose every item failed is failed, with its result: its items count as failed items.
    if ((status?.state === 'completed' || status?.failedCode === ALL_ITEMS_FAILED) && status.result) {
      const result: JobResult = status.result;
      totals.indexed += result.counts.indexed;
      totals.unchanged += result.counts.unchanged;
      totals.failedItems += result.counts.failed;
      totals.failed.push(...result.failed);
      if (result.version !== null) totals.version = Math.max(totals.version ?? 0, result.version);
    } else {
      totals.failedJobs.push({
        jobId: job.jobId,
        items: job.items,
        reason: status?.failedReason ?? (status ? `job is ${status.state}` : 'job not found (removed?)'),
      });
    }
  }
}
