import { parse as parseJson } from 'secure-json-parse';
import {
  EVENT_ID_PATTERN,
  EventBatchError,
  rejectionReason,
  validateBatch,
  type EventRejection,
  type EventRejectionCode,
  type TimeWindow,
} from './contract';
import type { EventSink } from './event-log';

/**
 * A POST /v1/events body from its bytes to the stream: parse, judge each event, append the valid
 * ones. One function, so that it runs the same on the API's event loop or in its ingest thread (the
 * API's `ThreadedEventIngestor`), where 10,000 events/s of JSON parsing, validation and Redis writes
 * do not delay the searches the event loop answers.
 */

/** A refused event of a batch, as the API reports it (`path` points into the body). */
export interface IngestRejection {
  index: number;
  /** The event's eventId when it had a valid one (for the client's bookkeeping). */
  eventId?: string;
  code: EventRejectionCode;
  /** JSON pointer into the body: `/events/3/timestamp`. */
  path: string;
  message: string;
}

/** Refused events per metric label (`rejectionReason`). */
export type RejectionCounts = Partial<Record<ReturnType<typeof rejectionReason>, number>>;

export type IngestOutcome =
  /** Valid events stored (or found stored before); refused ones listed. */
  | {
      kind: 'stored';
      accepted: number;
      duplicates: number;
      rejections: IngestRejection[];
      rejectedByReason: RejectionCounts;
    }
  /** The body is not JSON (or tries prototype poisoning): nothing stored. */
  | { kind: 'unparsable' }
  /** The envelope is not `{ events: [1–100] }`: nothing stored. */
  | { kind: 'malformed'; path: string; message: string }
  /** Every event was refused: nothing stored. */
  | { kind: 'none-valid'; rejections: IngestRejection[]; rejectedByReason: RejectionCounts };

/** What the ingest needs besides the body: the server's clock and the accepted time window. */
export interface IngestRequest {
  /** The raw JSON body, or a body already parsed. */
  body: Uint8Array | unknown;
  /** The server's clock when the request came (epoch ms). */
  receivedAt: number;
  window: TimeWindow;
}

/** Where the API hands event batches: in its event loop, or a thread of its own. */
export interface EventIngestor {
  /** Rejects when the events could not be stored (Redis unreachable): the client retries. */
  ingest(request: IngestRequest): Promise<IngestOutcome>;
  close(): Promise<void>;
}

function eventIdOf(raw: unknown): string | undefined {
  const id = typeof raw === 'object' && raw !== null ? (raw as { eventId?: unknown }).eventId : undefined;
  return typeof id === 'string' && EVENT_ID_PATTERN.test(id) ? id : undefined;
}

function report(rejected: readonly EventRejection[], raw: readonly unknown[]) {
  const rejectedByReason: RejectionCounts = {};
  const rejections = rejected.map((r): IngestRejection => {
    const reason = rejectionReason(r.code);
    rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + 1;
    const eventId = eventIdOf(raw[r.index]);
    return {
      index: r.index,
      ...(eventId !== undefined ? { eventId } : {}),
      code: r.code,
      path: `/events/${r.index}${r.path}`,
      message: r.message,
    };
  });
  return { rejections, rejectedByReason };
}

/**
 * Parses (with the same prototype-poisoning refusal as Fastify's JSON parser), validates event by
 * event and appends the valid events to `sink`. Rejects only when the sink does.
 */
export async function ingestBatch(request: IngestRequest, sink: EventSink): Promise<IngestOutcome> {
  let body = request.body;
  if (body instanceof Uint8Array) {
    try {
      body = parseJson(Buffer.from(body.buffer, body.byteOffset, body.byteLength), {
        protoAction: 'error',
        constructorAction: 'error',
      });
    } catch {
      return { kind: 'unparsable' };
    }
  }
  let batch: ReturnType<typeof validateBatch>;
  try {
    batch = validateBatch(body, request.receivedAt, request.window);
  } catch (err) {
    if (!(err instanceof EventBatchError)) throw err;
    return { kind: 'malformed', path: err.path, message: err.message };
  }
  const raw = (body as { events: unknown[] }).events;
  const { rejections, rejectedByReason } = report(batch.rejected, raw);
  if (batch.valid.length === 0) return { kind: 'none-valid', rejections, rejectedByReason };
  const stored = await sink.append(
    batch.valid.map((valid) => valid.event),
    request.receivedAt,
  );
  return {
    kind: 'stored',
    accepted: stored.accepted,
    duplicates: stored.duplicates,
    rejections,
    rejectedByReason,
  };
}

/** Ingests on the caller's event loop (tests, tools; the API uses its thread: ThreadedEventIngestor). */
export class InProcessEventIngestor implements EventIngestor {
  constructor(private readonly sink: EventSink) {}

  ingest(request: IngestRequest): Promise<IngestOutcome> {
    return ingestBatch(request, this.sink);
  }

  async close(): Promise<void> {}
}
