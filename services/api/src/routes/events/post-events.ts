import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorCodes } from 'fastify';
import type { IngestRejection, RejectionCounts } from '@lookalike/events';
import { redisCall, type RouteContext } from '../../context';
import { ApiError } from '../../errors';
import { routeRateLimit } from '../../plugins/rate-limit';
import { jsonResponse, problemResponses } from '../../schemas';
import { EventBatch, EventsAccepted } from './schemas';

/** A stray query parameter is refused rather than ignored: everything goes in the body. */
const NoQuery = Type.Object({}, { additionalProperties: false, description: 'No query parameters.' });

/** Either key on POST /v1/events (see plugins/auth): the events key, or the write key. */
const EVENTS_SECURITY: Array<Record<string, string[]>> = [{ eventsKey: [] }, { bearerAuth: [] }];

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
  const { metrics } = app;
  const countRejected = (counts: RejectionCounts) => {
    for (const [reason, count] of Object.entries(counts)) metrics.eventsRejected.inc({ reason }, count);
  };
  const fieldErrors = (rejections: readonly IngestRejection[]) =>
    rejections.map((r) => ({ path: `/body${r.path}`, message: `${r.code}: ${r.message}` }));

  // The body stays bytes here: the ingestor parses it (in its own thread, ThreadedEventIngestor),
  // so the event loop that answers searches does not. Scoped to this plugin (Fastify encapsulation):
  // every other route keeps Fastify's JSON parser.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    if (body.length === 0) done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined);
    else done(null, body);
  });

  app.post(
    '/v1/events',
    {
      bodyLimit: config.EVENTS_MAX_BODY_BYTES,
      // The body is validated once, by the ingestor, event by event (validateBatch: the same TypeBox
      // schema, compiled), because one bad event must not refuse the batch; it arrives as bytes, so
      // the route's schemas only document. The query string (none allowed) is checked in the handler.
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
      const outcome = await redisCall(
        () => deps.events.ingest({ body: request.body, receivedAt: Date.now(), window }),
        config.REDIS_TIMEOUT_MS,
      );
      switch (outcome.kind) {
        case 'unparsable':
          throw new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY();
        case 'malformed':
          throw new ApiError(
            'VALIDATION_FAILED',
            `Invalid request: /body${outcome.path} ${outcome.message}`,
            {
              fieldErrors: [{ path: `/body${outcome.path}`, message: outcome.message }],
            },
          );
        case 'none-valid':
          countRejected(outcome.rejectedByReason);
          throw new ApiError('EVENTS_REJECTED', `No event of the batch is valid; none was stored`, {
            fieldErrors: fieldErrors(outcome.rejections),
          });
        case 'stored':
          countRejected(outcome.rejectedByReason);
          metrics.eventsAccepted.inc(outcome.accepted);
          metrics.eventsDuplicate.inc(outcome.duplicates);
          request.log.debug(
            {
              accepted: outcome.accepted,
              duplicates: outcome.duplicates,
              rejected: outcome.rejections.length,
            },
            'events stored',
          );
          return reply.code(202).send({
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
            rejected: outcome.rejections.length,
            rejections: outcome.rejections,
          });
      }
    },
  );
};

export default eventRoutes;
