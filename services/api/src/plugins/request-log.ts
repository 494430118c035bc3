import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Probes hit every few seconds from orchestrators and scrapers: at info they would drown the lines
 * that matter, so they are logged at debug.
 */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Shopper events come from every shopper's browser, thousands of POSTs a minute in a busy shop:
 * answered ones are logged at debug (lookalike_events_* count them); refused or failed ones stay at
 * info. Writing a line each also cost the event loop that answers searches (pnpm bench events).
 */
const QUIET_WHEN_ANSWERED: ReadonlySet<string> = new Set(['/v1/events']);

/** What a request that matched no route is logged (and measured) as. */
export const UNMATCHED_ROUTE = 'unmatched';

/** The route pattern (`/v1/items/:id`), not the URL, so lines of one endpoint group together. */
export function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? UNMATCHED_ROUTE;
}

/** What the error handler knows about a refused or failed request (its stable code, the detail). */
export interface RequestOutcome {
  code: string;
  detail?: string;
}

const outcomes = new WeakMap<FastifyRequest, RequestOutcome>();

/** Puts the problem's code and detail on the request's "request completed" line. */
export function noteOutcome(request: FastifyRequest, outcome: RequestOutcome): void {
  outcomes.set(request, outcome);
}

function completedLine(request: FastifyRequest, reply: FastifyReply) {
  return {
    method: request.method,
    route: routeOf(request),
    // Redacted by the logger (secret query parameters), like every `url` and `detail` field.
    url: request.url,
    statusCode: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime * 10) / 10,
    ...outcomes.get(request),
  };
}

/**
 * One line per request, written when the response is finished: method, route pattern, URL, status
 * code and duration (the request id comes with the request's logger). Replaces Fastify's two default
 * lines (disableRequestLogging in app.ts). A debug line at arrival shows requests still in flight.
 */
/** Writes the request's one line: at debug for probes and accepted events, at info for everything else. */
export function logRequestCompleted(request: FastifyRequest, reply: FastifyReply): void {
  const line = completedLine(request, reply);
  const quiet =
    PROBE_ROUTES.has(line.route) || (QUIET_WHEN_ANSWERED.has(line.route) && line.statusCode < 400);
  if (quiet) request.log.debug(line, 'request completed');
  else request.log.info(line, 'request completed');
}

async function requestLogPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (request) => {
    request.log.debug(
      { method: request.method, route: routeOf(request), url: request.url },
      'request received',
    );
  });
  app.addHook('onResponse', async (request, reply) => logRequestCompleted(request, reply));
}

export default fp(requestLogPlugin, { name: 'lookalike-request-log', fastify: '5.x' });
