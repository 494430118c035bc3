/**
 * Shopper events ("learning from shoppers", issue 17): the contract a shop front end posts to
 * `POST /v1/events`, query ids that name result lists, and the event log in Redis.
 *
 * ## Where events live
 *
 * One Redis stream per deployment, `<prefix>:events` (`prefix` = QUEUE_PREFIX, default
 * `lookalike`), appended by the API with `XADD … MAXLEN ~ EVENTS_STREAM_MAXLEN` (the oldest entries
 * are trimmed past the bound; `~` lets Redis trim whole nodes, so the length may exceed the bound
 * by up to one node, 100 entries by default), one entry per event. Beside it, the dedupe sets
 * `<prefix>:events:dedupe:<slice>`: the ids of the accepted events whose timestamps fall in one
 * 10-second slice (`slice` = floor(timestamp ms / 10,000)), each set expiring the dedupe TTL after
 * its slice ends (the API uses EVENTS_MAX_AGE + EVENTS_MAX_FUTURE, so any replay the API would still
 * accept is recognised: a replay is the same event, same id and same timestamp). Durable across a
 * Redis restart only with AOF on (docker-compose.yml runs Redis with
 * `--appendonly yes --appendfsync everysec`: at most about a second of acknowledged events can be
 * lost in a crash of the Redis host).
 *
 * ## Stream entry format, version 2 (for consumers such as the indexer's aggregation)
 *
 * Entry id: `<ms>-<seq>`, the Redis server's time of the append (monotonic per stream), so a
 * consumer can resume from the last id it processed (XREAD, or XREADGROUP with a consumer group;
 * entries trimmed by MAXLEN before a slow consumer read them are gone). Fields, all strings:
 *
 * | field        | value                                                                   |
 * | ------------ | ----------------------------------------------------------------------- |
 * | `v`          | `2`, the format version; skip entries of a version you do not know      |
 * | `receivedAt` | when the API accepted the event, UTC ISO 8601 with ms                   |
 * | `e`          | the event, a JSON array (below)                                         |
 *
 * `e` = `[eventId, type, itemId, contextKind, contextId, position, timestamp, sessionId]`:
 * - `eventId`: the client's idempotency key (unique per event);
 * - `type`: `impression`, `click`, `add_to_cart` or `purchase`;
 * - `itemId`: the catalogue item shown or acted on;
 * - `contextKind` `"s"`: `contextId` is the `sourceItemId` of `GET /v1/items/{sourceItemId}/similar`;
 *   `"q"`: `contextId` is the `queryId` (UUIDv7) a response named its list with;
 * - `position`: zero-based position of the item in that list (a JSON number);
 * - `timestamp`: the client's event time, normalised to UTC ISO 8601 with ms;
 * - `sessionId`: the opaque, rotating session token (never personal data).
 *
 * Version 1 (streams written before version 2 still hold such entries; parseStreamEntry reads both)
 * had one field per attribute: `v`=`1`, `eventId`, `type`, `itemId`, `sourceItemId` or `queryId`,
 * `position` (decimal), `timestamp`, `sessionId`, `receivedAt`. `parseStreamEntry` reads an entry into
 * a `StoredEvent` (null for an unknown version or a malformed entry). Appends are at least once:
 * an eventId is stored once while its slice's set lives (see event-log.ts for the one exception).
 */
export {
  EVENT_ID_PATTERN,
  EVENT_LIMITS,
  EVENT_REJECTIONS,
  EVENT_TYPES,
  EventBatchError,
  EventBatchSchema,
  EventContextSchema,
  QueryContextSchema,
  RFC3339_PATTERN,
  SESSION_ID_PATTERN,
  ShopperEventSchema,
  SourceItemContextSchema,
  rejectionReason,
  validateBatch,
  validateEvent,
  type BatchValidation,
  type EventRejection,
  type EventRejectionCode,
  type EventType,
  type ShopperEvent,
  type TimeWindow,
  type ValidEvent,
} from './contract';
export { QUERY_ID_PATTERN, newQueryId, queryIdTime } from './query-id';
export {
  DEDUPE_SLICE_MS,
  EVENT_ENTRY_VERSION,
  RedisEventLog,
  RedisEventStream,
  dedupeSliceOf,
  entryPayload,
  eventKeys,
  parseStreamEntry,
  type AppendResult,
  type EventSink,
  type RedisEventLogOptions,
  type StoredEvent,
} from './event-log';
export {
  InProcessEventIngestor,
  ingestBatch,
  type EventIngestor,
  type IngestOutcome,
  type IngestRejection,
  type IngestRequest,
  type RejectionCounts,
} from './ingest';
