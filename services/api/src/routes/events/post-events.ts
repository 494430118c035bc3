import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  EVENT_ID_PATTERN,
  EventBatchError,
  rejectionReason,
  validateBatch,
  type EventRejection,
} from '@lookalike/events';
import { redisCall, type RouteContext } from '../../context';
import { ApiError } from '../../errors';
import { routeRateLimit } from '../../plugins/rate-limit';
import { jsonResponse, problemResponses } from '../../schemas';
import { EventBatch, EventsAccepted } from './schemas';

/** A stray query parameter is refused rather than ignored: everything goes in the body. */
const NoQuery = Type.Object({}, { additionalProperties: false, description: 'No query parameters.' });

/** Either key on POST /v1/events (see plugins/auth): the events key, or the write key. */
const EVENTS_SECURITY: Array<Record<string, string[]>> = [{ eventsKey: [] }, { bearerAuth: [] }];

/** The eventId of a refused event when it is a valid one (for the client's bookkeeping); else nothing is echoed. */
function eventIdOf(raw: unknown): string | undefined {
  const id = typeof raw === 'object' && raw !== null ? (raw as { eventId?: unknown }).eventId : undefined;
  return typeof id === 'string' && EVENT_ID_PATTERN.test(id) ? id : undefined;
}

/**
 * POST /v1/events: shopper events from a shop front end (impressions, clicks, add-to-cart,
 * purchases on a result list), appended to the event stream for the indexer to learn from.
 *
 * Partial acceptance: a well-formed batch is judged event by event, so one stale or malformed
 * event (an offline browser flushing late, a tracking bug in one template) does not cost the
 * others. 202 lists the refused ones; 400 only when the envelope is wrong or no event is valid
 * (nothing stored either way). Idempotent by eventId, so a client resends a batch after a timeout,
 * 429 or 503 without double counting.
 */
const eventRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps }) => {
  const window = { maxAgeMs: config.EVENTS_MAX_AGE, maxFutureMs: config.EVENTS_MAX_FUTURE };

  app.post(
    '/v1/events',
    {
      bodyLimit: config.EVENTS_MAX_BODY_BYTES,
      // The body is validated once, in the handler, event by event (validateBatch: the same TypeBox
      // schema, compiled), because one bad event must not refuse the batch. Fastify's own pass over
      // it would be a second, discarded one on the hot path (10k events/s), so the route's schemas
      // only document; the query string (no parameters allowed) is checked in the handler too.
      validatorCompiler: () => () => true,
      config: {
        access: 'events',
        rateLimit: routeRateLimit(config.EVENTS_RATE_LIMIT_MAX, config.EVENTS_RATE_LIMIT_WINDOW),
      },
      schema: {
        tags: ['events'],
        operationId: 'postEvents',
        summary: 'Record shopper events (batched)',
        description:
          'Impressions, clicks, add-to-cart and purchases of items in a result list, named by the list’s ' +
          '`queryId` or by the `sourceItemId` of GET /v1/items/{id}/similar. Each event is validated on its ' +
          'own: valid ones are stored, the others listed in `rejections` (400 only when none is valid or ' +
          'the batch itself is malformed). Idempotent by `eventId`: resend a batch after a timeout, 429 or ' +
          '503 as it was. Needs EVENTS_KEY (or API_KEY) when the server has one. `sessionId` must be an ' +
          'opaque, rotating token: never personal data.',
        security: EVENTS_SECURITY,
        querystring: NoQuery,
        body: EventBatch,
        response: {
          202: jsonResponse('Accepted: valid events stored, refused ones listed.', EventsAccepted),
          ...problemResponses(400, 401, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const stray = Object.keys((request.query ?? {}) as object)[0];
      if (stray !== undefined) {
        throw new ApiError('VALIDATION_FAILED', `Invalid request: /query/${stray} is not allowed`, {
          fieldErrors: [{ path: `/query/${stray}`, message: 'is not allowed' }],
        });
      }
      const now = Date.now();
      let batch: ReturnType<typeof validateBatch>;
      try {
        batch = validateBatch(request.body, now, window);
      } catch (err) {
        if (!(err instanceof EventBatchError)) throw err;
        throw new ApiError('VALIDATION_FAILED', `Invalid request: /body${err.path} ${err.message}`, {
          fieldErrors: [{ path: `/body${err.path}`, message: err.message }],
        });
      }
      const raw = (request.body as { events: unknown[] }).events;
      const { metrics } = app;
      for (const rejection of batch.rejected)
        metrics.eventsRejected.inc({ reason: rejectionReason(rejection.code) });
      const pointer = (r: EventRejection) => `/events/${r.index}${r.path}`;
      if (batch.valid.length === 0) {
        throw new ApiError('EVENTS_REJECTED', `No event of the batch is valid; none was stored`, {
          fieldErrors: batch.rejected.map((r) => ({
            path: `/body${pointer(r)}`,
            message: `${r.code}: ${r.message}`,
          })),
        });
      }
      const stored = await redisCall(
        () =>
          deps.events.append(
            batch.valid.map((valid) => valid.event),
            now,
          ),
        config.REDIS_TIMEOUT_MS,
      );
      metrics.eventsAccepted.inc(stored.accepted);
      metrics.eventsDuplicate.inc(stored.duplicates);
      request.log.debug(
        { accepted: stored.accepted, duplicates: stored.duplicates, rejected: batch.rejected.length },
        'events stored',
      );
      return reply.code(202).send({
        accepted: stored.accepted,
        duplicates: stored.duplicates,
        rejected: batch.rejected.length,
        rejections: batch.rejected.map((r) => {
          const eventId = eventIdOf(raw[r.index]);
          return {
            index: r.index,
            ...(eventId !== undefined ? { eventId } : {}),
            code: r.code,
            path: pointer(r),
            message: r.message,
          };
        }),
      });
    },
  );
};

export default eventRoutes;
