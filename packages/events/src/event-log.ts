import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { EVENT_TYPES, type EventType, type ShopperEvent } from './contract';

/** Version of the stream entry format (field `v`); a consumer skips entries of versions it does not know. */
export const EVENT_ENTRY_VERSION = '1';

/** The Redis keys of one deployment's event log (`prefix` is QUEUE_PREFIX in the services). */
export function eventKeys(prefix: string): { stream: string; seen: (eventId: string) => string } {
  return {
    stream: `${prefix}:events`,
    seen: (eventId) => `${prefix}:events:seen:${eventId}`,
  };
}

/** One event as stored in the stream, read back (see index.ts for the entry fields). */
export interface StoredEvent {
  /** The stream entry id, `<ms>-<seq>` of the server that appended it. */
  streamId: string;
  eventId: string;
  type: EventType;
  itemId: string;
  context: { sourceItemId: string } | { queryId: string };
  position: number;
  /** The client's event time, normalised to UTC (ISO 8601, ms). */
  timestamp: string;
  sessionId: string;
  /** When the API accepted it (ISO 8601, ms). */
  receivedAt: string;
}

export interface AppendResult {
  /** Events appended now. */
  accepted: number;
  /** Events whose eventId was stored before (an earlier request, or earlier in this batch). */
  duplicates: number;
  /** Per event, in order: its new stream id, or null for a duplicate. */
  ids: Array<string | null>;
}

/** The API's view of the log: what POST /v1/events needs. */
export interface EventSink {
  append(events: readonly ShopperEvent[], receivedAt?: number): Promise<AppendResult>;
}

export interface RedisEventLogOptions {
  /** An ioredis connection the caller owns (and closes). */
  connection: Redis;
  /** Key prefix: deployments (and tests) sharing a Redis stay apart. */
  prefix: string;
  /** Approximate bound of the stream (`XADD MAXLEN ~`): older entries are trimmed past it. */
  maxLength: number;
  /**
   * How long an eventId is remembered for deduplication, in seconds. Should be at least the age
   * window an event is accepted in (max age + max future skew): then every replay the API would
   * still accept finds its id.
   */
  dedupeTtlSeconds: number;
  /** How long append waits for a connection that is not ready yet. Default 2 s. */
  readyTimeoutMs?: number;
}

/** The field/value list of an event's stream entry (the format documented in index.ts). */
export function entryFields(
  event: ShopperEvent,
  receivedAt: number | string,
  timestampMs: number = Date.parse(event.timestamp),
): string[] {
  const fields = [
    'v',
    EVENT_ENTRY_VERSION,
    'eventId',
    event.eventId,
    'type',
    event.type,
    'itemId',
    event.itemId,
  ];
  if ('sourceItemId' in event.context) fields.push('sourceItemId', event.context.sourceItemId);
  else fields.push('queryId', event.context.queryId);
  fields.push(
    'position',
    String(event.position),
    'timestamp',
    new Date(timestampMs).toISOString(),
    'sessionId',
    event.sessionId,
    'receivedAt',
    typeof receivedAt === 'string' ? receivedAt : new Date(receivedAt).toISOString(),
  );
  return fields;
}

/**
 * Reads one stream entry (its id and flat field/value list, as XRANGE/XREAD return them); null for
 * an entry of another format version or with fields missing, which a consumer should skip.
 */
export function parseStreamEntry(streamId: string, flat: readonly string[]): StoredEvent | null {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  if (fields.get('v') !== EVENT_ENTRY_VERSION) return null;
  const eventId = fields.get('eventId');
  const type = fields.get('type') as EventType | undefined;
  const itemId = fields.get('itemId');
  const position = Number(fields.get('position'));
  const timestamp = fields.get('timestamp');
  const sessionId = fields.get('sessionId');
  const receivedAt = fields.get('receivedAt');
  const sourceItemId = fields.get('sourceItemId');
  const queryId = fields.get('queryId');
  if (
    !eventId ||
    !type ||
    !EVENT_TYPES.includes(type) ||
    !itemId ||
    !Number.isInteger(position) ||
    !timestamp ||
    !sessionId ||
    !receivedAt ||
    (sourceItemId === undefined) === (queryId === undefined)
  ) {
    return null;
  }
  return {
    streamId,
    eventId,
    type,
    itemId,
    context: sourceItemId !== undefined ? { sourceItemId } : { queryId: queryId as string },
    position,
    timestamp,
    sessionId,
    receivedAt,
  };
}

/**
 * Dedupe and append, one atomic script per batch. For each event: if its seen-key exists it is a
 * duplicate; else XADD (trimming the stream to about MAXLEN), then SET the seen-key with its TTL.
 * XADD comes before SET on purpose: a script is not rolled back, so if Redis refused the write
 * half-way (out of memory under noeviction) an event is never marked seen without being stored; a
 * retry then stores it (at worst twice, never zero times).
 *
 * KEYS[1] = stream, KEYS[1 + i] = seen-key of event i.
 * ARGV = maxLength, ttlSeconds, then the batch as ONE JSON array of each event's field/value list,
 * decoded by Redis' built-in cjson. One argument instead of ~2,000: encoding and writing every field
 * as an argument of its own took the API a third of its CPU per batch (profiled), on the event loop
 * that also answers searches.
 * Returns, per event, its stream id or '' for a duplicate.
 */
const APPEND_SCRIPT = `
local maxlen = ARGV[1]
local ttl = ARGV[2]
local batch = cjson.decode(ARGV[3])
local out = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    out[#out + 1] = ''
  else
    local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(batch[i - 1]))
    redis.call('SET', KEYS[i], id, 'EX', ttl)
    out[#out + 1] = id
  end
end
return out
`;
const APPEND_SHA = createHash('sha1').update(APPEND_SCRIPT).digest('hex');

/**
 * XRANGE of `stream` from `start` to `end` (at most `count` entries), parsed; entries of another format
 * are skipped but counted in `read`, and `lastId` is the last entry's id (skipped or not).
 */
async function readRange(
  connection: Redis,
  stream: string,
  start: string,
  end: string,
  count: number,
): Promise<{ events: StoredEvent[]; read: number; lastId: string | null }> {
  const raw = (await connection.xrange(stream, start, end, 'COUNT', count)) as Array<[string, string[]]>;
  const events = raw.flatMap(([id, fields]) => {
    const event = parseStreamEntry(id, fields);
    return event ? [event] : [];
  });
  return { events, read: raw.length, lastId: raw[raw.length - 1]?.[0] ?? null };
}

/**
 * The event log over a Redis stream: durable as far as Redis is (AOF, as docker-compose.yml runs
 * it), bounded by MAXLEN, idempotent by eventId. The indexer reads it with RedisEventStream (below);
 * other consumers can use XRANGE/XREAD with parseStreamEntry.
 */
export class RedisEventLog implements EventSink {
  readonly keys: ReturnType<typeof eventKeys>;
  private readonly connection: Redis;
  private readonly maxLength: number;
  private readonly dedupeTtlSeconds: number;
  private readonly readyTimeoutMs: number;

  constructor(options: RedisEventLogOptions) {
    if (!Number.isInteger(options.maxLength) || options.maxLength < 1) {
      throw new RangeError('maxLength must be a positive integer');
    }
    if (!Number.isInteger(options.dedupeTtlSeconds) || options.dedupeTtlSeconds < 1) {
      throw new RangeError('dedupeTtlSeconds must be a positive integer');
    }
    this.connection = options.connection;
    this.keys = eventKeys(options.prefix);
    this.maxLength = options.maxLength;
    this.dedupeTtlSeconds = options.dedupeTtlSeconds;
    this.readyTimeoutMs = options.readyTimeoutMs ?? 2000;
  }

  /** Appends the events not seen before; `receivedAt` is the server's clock (epoch ms). */
  async append(events: readonly ShopperEvent[], receivedAt: number = Date.now()): Promise<AppendResult> {
    if (events.length === 0) return { accepted: 0, duplicates: 0, ids: [] };
    await this.ready();
    const keys = [this.keys.stream, ...events.map((event) => this.keys.seen(event.eventId))];
    const received = new Date(receivedAt).toISOString();
    const args: string[] = [
      String(this.maxLength),
      String(this.dedupeTtlSeconds),
      JSON.stringify(events.map((event) => entryFields(event, received))),
    ];
    let reply: unknown;
    try {
      reply = await this.connection.evalsha(APPEND_SHA, keys.length, ...keys, ...args);
    } catch (err) {
      // First use on this Redis (or after a restart without the script cache): send the script itself.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      reply = await this.connection.eval(APPEND_SCRIPT, keys.length, ...keys, ...args);
    }
    const ids = (reply as string[]).map((id) => (id === '' ? null : id));
    const accepted = ids.filter((id) => id !== null).length;
    return { accepted, duplicates: ids.length - accepted, ids };
  }

  /** Entries between two stream ids (inclusive; `-` and `+` for the ends), oldest first. */
  async read(options: { start?: string; end?: string; count?: number } = {}): Promise<StoredEvent[]> {
    await this.ready();
    const { events } = await readRange(
      this.connection,
      this.keys.stream,
      options.start ?? '-',
      options.end ?? '+',
      options.count ?? 1000,
    );
    return events;
  }

  /** Entries in the stream now. */
  async length(): Promise<number> {
    await this.ready();
    return this.connection.xlen(this.keys.stream);
  }

  /** Waits (bounded) for a connection that is still connecting; fails at once on a closed one. */
  private async ready(): Promise<void> {
    const connection = this.connection;
    if (connection.status === 'ready') return;
    if (connection.status === 'end') throw new Error('the Redis connection of the event log is closed');
    await new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        connection.off('ready', onReady);
        connection.off('end', onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => finish();
      const onEnd = () => finish(new Error('the Redis connection of the event log closed'));
      const timer = setTimeout(
        () => finish(new Error(`Redis not ready within ${this.readyTimeoutMs} ms`)),
        this.readyTimeoutMs,
      );
      connection.on('ready', onReady);
      connection.on('end', onEnd);
    });
  }
}

/**
 * The consumer's view of the log (the indexer's aggregation): pages of the stream oldest first, and
 * time-based retention. Reading is stateless (XRANGE from an id), so any number of indexer replicas
 * read the same stream without consumer-group bookkeeping.
 */
export class RedisEventStream {
  readonly keys: ReturnType<typeof eventKeys>;

  constructor(
    private readonly connection: Redis,
    prefix: string,
  ) {
    this.keys = eventKeys(prefix);
  }

  /**
   * Up to `count` entries after stream id `after` (all from the start with null), oldest first;
   * `next` is the last entry's id (including entries skipped as unreadable), null at the end.
   */
  async page(after: string | null, count: number): Promise<{ events: StoredEvent[]; next: string | null }> {
    const { events, read, lastId } = await readRange(
      this.connection,
      this.keys.stream,
      after === null ? '-' : `(${after}`,
      '+',
      count,
    );
    return { events, next: read < count ? null : lastId };
  }

  /** Every entry, read in pages of `pageSize` (the stream is bounded by MAXLEN and retention). */
  async readAll(pageSize = 10_000): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    let after: string | null = null;
    for (;;) {
      const { events, next } = await this.page(after, pageSize);
      for (const event of events) out.push(event);
      if (next === null) return out;
      after = next;
    }
  }

  /**
   * Drops entries appended before `cutoffMs` (by their stream id, the server's append time; XTRIM
   * MINID, Redis ≥ 6.2). `~` lets Redis drop whole nodes only: a few older entries may stay a while.
   */
  async trimOlderThan(cutoffMs: number): Promise<number> {
    return this.connection.xtrim(this.keys.stream, 'MINID', '~', `${Math.max(0, Math.floor(cutoffMs))}-0`);
  }

  async length(): Promise<number> {
    return this.connection.xlen(this.keys.stream);
  }
}
