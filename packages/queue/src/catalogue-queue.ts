import { randomUUID } from 'node:crypto';
import type { Logger } from '@lookalike/config';
import { Queue, type DefaultJobOptions, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { QueueError } from './errors';
import { closeRedisConnection, createRedisConnection, waitForReady } from './redis';
import {
  CATALOGUE_JOB_KINDS,
  parseCatalogueJob,
  type CatalogueJob,
  type CatalogueJobInput,
  type CatalogueJobKind,
} from './schemas';
import { failureRecordOf, percentOf, type JobResult } from './job-result';

export const CATALOGUE_QUEUE = 'catalogue';
export const QUEUE_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Retries with backoff 1 s, 2 s, 4 s, 8 s; finished jobs kept long enough for clients to poll. */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';
export type JobCounts = Record<JobState, number>;

export interface JobStatus {
  id: string;
  kind: CatalogueJobKind;
  state: JobState;
  /** 0..100 as reported by the worker; 100 once completed. */
  progress: number;
  /**
   * The worker's result: once completed, and on a job that failed because every item failed
   * (failedCode ALL_ITEMS_FAILED), where it lists the failures.
   */
  result: JobResult | null;
  /** Why the last attempt failed (also while waiting, delayed, for a retry). */
  failedReason: string | null;
  /** The stable code of a job that failed for good (ALL_ITEMS_FAILED, JOB_INVALID, …); null otherwise or when unknown. */
  failedCode: string | null;
  attemptsMade: number;
  createdAt: string;
  finishedAt: string | null;
}

export interface CatalogueQueueOptions {
  /** Used when no connection is given; the queue then owns (and closes) its connection. */
  redisUrl: string;
  /** BullMQ key prefix: deployments and tests sharing a Redis stay apart. */
  prefix: string;
  /** A connection from createRedisConnection(url, 'queue'); left open by close(). */
  connection?: Redis;
  /** How long enqueue waits for Redis before QUEUE_UNAVAILABLE. Default 5 s. */
  enqueueTimeoutMs?: number;
  logger?: Logger;
}

const MAX_JOB_ID_LENGTH = 256;
/** Ids callers choose (enqueueOnce): no `:` (BullMQ's key separator), not all digits (BullMQ refuses those). */
const JOB_ID_PATTERN = /^(?!\d+$)[A-Za-z0-9_.-]{1,256}$/;

function timeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

function toJobState(state: string): JobState {
  switch (state) {
    case 'active':
    case 'completed':
    case 'failed':
    case 'delayed':
      return state;
    default:
      return 'waiting'; // waiting, prioritized, waiting-children
  }
}

/**
 * The catalogue queue as producers see it (API, CLI): validated enqueue, job status for polling,
 * counts and a health check. The indexer consumes the same queue with createCatalogueWorker.
 */
export class CatalogueQueue {
  readonly prefix: string;
  private readonly connection: Redis;
  private readonly ownsConnection: boolean;
  private readonly queue: Queue<CatalogueJob, JobResult, CatalogueJobKind>;
  private readonly enqueueTimeoutMs: number;
  private closing: Promise<void> | undefined;

  constructor(options: CatalogueQueueOptions) {
    if (!QUEUE_PREFIX_PATTERN.test(options.prefix)) {
      throw new QueueError('QUEUE_BAD_OPTIONS', `Queue prefix must match ${QUEUE_PREFIX_PATTERN}`, {
        details: { prefix: options.prefix },
      });
    }
    this.prefix = options.prefix;
    this.enqueueTimeoutMs = options.enqueueTimeoutMs ?? 5_000;
    this.ownsConnection = options.connection === undefined;
    this.connection = options.connection ?? createRedisConnection(options.redisUrl, 'queue');
    const logger = options.logger;
    if (this.ownsConnection) {
      this.connection.on('error', (err: Error) => logger?.warn({ err }, 'redis connection error'));
    }
    this.queue = new Queue<CatalogueJob, JobResult, CatalogueJobKind>(CATALOGUE_QUEUE, {
      connection: this.connection,
      prefix: options.prefix,
      defaultJobOptions: DEFAULT_JOB_OPTIONS,
    });
    // BullMQ re-emits connection errors; an 'error' event without a listener would crash the process.
    this.queue.on('error', (err: Error) => logger?.warn({ err }, 'catalogue queue error'));
  }

  /** Validates the job (InvalidJobError, JOB_INVALID) and adds it; returns the job id. */
  async enqueue(
    input: CatalogueJobInput,
    options: Pick<JobsOptions, 'priority' | 'delay'> = {},
  ): Promise<string> {
    const jobId = randomUUID();
    await this.add(parseCatalogueJob(input), { ...options, jobId });
    return jobId;
  }

  /**
   * Adds the job under `jobId` unless a job with that id is still kept (BullMQ keeps one job per
   * id), so processes that start together and each ask for the same piece of work queue it once.
   * Validates like `enqueue`; returns `jobId`.
   */
  async enqueueOnce(input: CatalogueJobInput, jobId: string): Promise<string> {
    if (!JOB_ID_PATTERN.test(jobId)) {
      throw new QueueError('QUEUE_BAD_OPTIONS', `Job id must match ${JOB_ID_PATTERN}`, {
        details: { jobId },
      });
    }
    await this.add(parseCatalogueJob(input), { jobId });
    return jobId;
  }

  private async add(job: CatalogueJob, options: JobsOptions & { jobId: string }): Promise<void> {
    const unavailable = (cause?: unknown) =>
      new QueueError('QUEUE_UNAVAILABLE', 'Redis is unavailable; the job was not queued', {
        permanent: false,
        cause,
      });
    if (!(await waitForReady(this.connection, this.enqueueTimeoutMs))) throw unavailable();
    try {
      await timeout(this.queue.add(job.kind, job, options), this.enqueueTimeoutMs, () => unavailable());
    } catch (err) {
      throw err instanceof QueueError ? err : unavailable(err);
    }
  }

  /** The job's status, or null when there is no such job (never existed, or already removed). */
  async getJob(jobId: string): Promise<JobStatus | null> {
    if (typeof jobId !== 'string' || jobId === '' || jobId.length > MAX_JOB_ID_LENGTH) return null;
    // State first, then the job hash: a job moving on between the two reads then shows the old state
    // with newer data (harmless), never "failed" with the reason not yet written.
    const rawState = await this.queue.getJobState(jobId);
    if (rawState === 'unknown') return null;
    const job = await this.queue.getJob(jobId);
    if (job === undefined || job === null) return null;
    const state = toJobState(rawState);
    const kind = CATALOGUE_JOB_KINDS.includes(job.name) ? job.name : job.data.kind;
    // A finished job is 100 % whatever the worker last reported; unreadable progress counts as 0.
    const progress = state === 'completed' ? 100 : percentOf(job.progress);
    // A record left by an earlier attempt is stale unless the job did fail for good.
    const failure = state === 'failed' ? failureRecordOf(job.progress) : null;
    const result =
      state === 'completed'
        ? ((job.returnvalue as JobResult | undefined) ?? null)
        : (failure?.result ?? null);
    return {
      id: jobId,
      kind,
      state,
      progress,
      result,
      failedReason: job.failedReason ? job.failedReason : null,
      failedCode: failure?.code ?? null,
      attemptsMade: job.attemptsMade,
      createdAt: new Date(job.timestamp).toISOString(),
      finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    };
  }

  async counts(): Promise<JobCounts> {
    const raw = await this.queue.getJobCounts(
      'waiting',
      'prioritized',
      'waiting-children',
      'active',
      'completed',
      'failed',
      'delayed',
    );
    const n = (key: string) => raw[key] ?? 0;
    return {
      waiting: n('waiting') + n('prioritized') + n('waiting-children'),
      active: n('active'),
      completed: n('completed'),
      failed: n('failed'),
      delayed: n('delayed'),
    };
  }

  /**
   * Resolves once nothing is waiting, active or delayed (for the CLI's `--wait` and tests); throws
   * QUEUE_IDLE_TIMEOUT after `timeoutMs`.
   */
  async waitForIdle(options: { timeoutMs?: number; pollMs?: number } = {}): Promise<JobCounts> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const pollMs = Math.max(10, options.pollMs ?? 200);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = await this.counts();
      if (counts.waiting + counts.active + counts.delayed === 0) return counts;
      if (Date.now() + pollMs > deadline) {
        throw new QueueError('QUEUE_IDLE_TIMEOUT', `Queue still busy after ${timeoutMs} ms`, {
          permanent: false,
          details: { counts },
        });
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** True when Redis answers PING within `timeoutMs` (waiting for a first connection included). */
  async ping(timeoutMs = 2_000): Promise<boolean> {
    const started = Date.now();
    if (!(await waitForReady(this.connection, timeoutMs))) return false;
    try {
      const reply = await timeout(
        this.connection.ping(),
        Math.max(1, timeoutMs - (Date.now() - started)),
        () => new Error('ping timed out'),
      );
      return reply === 'PONG';
    } catch {
      return false;
    }
  }

  /** Closes the BullMQ queue and, when the queue created it, the Redis connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.close().catch(() => undefined);
      if (this.ownsConnection) await closeRedisConnection(this.connection);
    })();
    return this.closing;
  }
}
