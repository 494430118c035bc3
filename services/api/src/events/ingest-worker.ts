/**
 * The ingest thread of POST /v1/events (run by ThreadedEventIngestor through piscina): parses,
 * validates and appends event batches to the Redis stream with a connection of its own, so that
 * this work and its garbage stay off the event loop that answers searches.
 */
import { workerData } from 'piscina';
import { RedisEventLog, ingestBatch, type IngestOutcome, type IngestRequest } from '@lookalike/events';
import { createRedisConnection } from '@lookalike/queue';
import type { IngestThreadOptions } from './threaded-ingestor';

const options = workerData as IngestThreadOptions;
// Fails fast while Redis is down (no offline queue), like the API's other write paths: the append
// rejects, the API answers 503 and the client resends the batch (idempotent by eventId).
const connection = createRedisConnection(options.redisUrl, 'queue');
// Errors reach the caller as rejected appends; the catalogue queue already logs the outage.
connection.on('error', () => undefined);
const log = new RedisEventLog({
  connection,
  prefix: options.prefix,
  maxLength: options.maxLength,
  dedupeTtlSeconds: options.dedupeTtlSeconds,
  readyTimeoutMs: options.readyTimeoutMs,
});

export default function ingest(request: IngestRequest): Promise<IngestOutcome> {
  return ingestBatch(request, log);
}
