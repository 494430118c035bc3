import { existsSync } from 'node:fs';
import path from 'node:path';
import Piscina from 'piscina';
import type { EventIngestor, IngestOutcome, IngestRequest } from '@lookalike/events';

/** What the ingest thread needs to open its own event log (plain data: it is copied to the thread). */
export interface IngestThreadOptions {
  redisUrl: string;
  prefix: string;
  maxLength: number;
  dedupeTtlSeconds: number;
  readyTimeoutMs: number;
}

/** The compiled worker beside this file (dist/); absent when run from TypeScript sources (unit tests). */
export const INGEST_WORKER_FILE = path.join(__dirname, 'ingest-worker.js');

export function ingestThreadAvailable(): boolean {
  return existsSync(INGEST_WORKER_FILE);
}

/**
 * POST /v1/events' batches, ingested in a thread of their own (ingest-worker.ts). Measured with
 * `pnpm bench events`: on the event loop, 10,000 events/s (JSON parsing, validation, the Redis
 * script's arguments and the garbage of it all) raised the p99 of concurrent searches by about half;
 * here the event loop only receives the bytes and sends the answer.
 *
 * - One thread, several batches at once (each mostly waits on Redis).
 * - At the lowest CPU priority (niceIncrement 19, a Linux thread nice value): when the cores are
 *   busy, searches go first and events wait a little; they are acknowledged once stored. At 10,000
 *   events/s the thread needs ~0.1 core; with it at nice 19 the events bench measured query p99
 *   1.41–1.66× its value without events, 1.70–1.72× at nice 10 (bench/src/events.ts; two runs each,
 *   before the cheaper version-2 append; since then 1.24–1.28× at nice 19, and 1.02–1.10× once
 *   by-id hits and piscina tasks stopped being promoted to the old generation).
 * - A bounded queue: past `maxQueue` waiting batches, `ingest` rejects (the API answers 503 with
 *   Retry-After and the client resends), so a flood cannot grow the API's memory without limit.
 * - A crashed thread is replaced by piscina; its batches reject (503), nothing half-acknowledged.
 */
export class ThreadedEventIngestor implements EventIngestor {
  private readonly pool: Piscina<IngestRequest, IngestOutcome>;

  constructor(
    options: IngestThreadOptions & {
      /** Batches waiting past this are refused (default 1,000). */
      maxQueue?: number;
      /** The compiled worker (default: the one beside this file in dist/). */
      workerFile?: string;
    },
  ) {
    const { maxQueue = 1000, workerFile = INGEST_WORKER_FILE, ...threadOptions } = options;
    this.pool = new Piscina({
      filename: workerFile,
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: 16,
      // The thread keeps a Redis connection: its event loop must run between batches too.
      atomics: 'async',
      idleTimeout: Infinity,
      maxQueue,
      niceIncrement: 19,
      workerData: threadOptions satisfies IngestThreadOptions,
    });
  }

  ingest(request: IngestRequest): Promise<IngestOutcome> {
    return this.pool.run(request);
  }

  /** Waits for the batches in flight (bounded by piscina's closeTimeout), then ends the thread. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}
