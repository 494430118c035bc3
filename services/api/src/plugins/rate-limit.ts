import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors';

export interface RateLimitOptions {
  /** Requests per client per window; 0: only routes with a limit of their own are limited. */
  max: number;
  windowMs: number;
}

const UNITS: ReadonlyArray<[ms: number, name: string]> = [
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
  [1, 'millisecond'],
];

/**
 * The configured window in words ("1 minute", "90 seconds", "2 hours"): the largest unit that
 * divides it exactly, so the message states the real window, never a rounded one. (Not
 * `ms(window, { long: true })`: it rounds, 90 s is "2 minutes".)
 */
export function describeWindow(ms: number): string {
  const [unit, name] = UNITS.find(([size]) => ms % size === 0) ?? [1, 'millisecond'];
  const count = ms / unit;
  return `${count} ${name}${count === 1 ? '' : 's'}`;
}

/** The 429 of a limit: states it as configured; Retry-After says how long is left of the window. */
function limitExceeded(max: number, windowMs: number) {
  const limit = `${max} ${max === 1 ? 'request' : 'requests'} per ${describeWindow(windowMs)}`;
  return (_request: unknown, context: { ttl: number }) =>
    new ApiError('RATE_LIMITED', `Rate limit of ${limit} exceeded`, {
      permanent: false,
      retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)),
    });
}

/**
 * A route's own limit (its `config.rateLimit`), counted apart from the global one: e.g. POST
 * /v1/events, which a shop front end calls far more often than anyone searches. `false` (max 0)
 * exempts the route.
 */
export function routeRateLimit(max: number, windowMs: number) {
  if (max <= 0) return false as const;
  return { max, timeWindow: windowMs, errorResponseBuilder: limitExceeded(max, windowMs) };
}

/**
 * Per-client rate limit. The 429 problem states the limit as configured ("300 requests per
 * 1 minute"); how long is left until the window resets is the Retry-After header's job. With
 * `max` 0 no route is limited except those with a limit of their own (routeRateLimit).
 */
async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    global: options.max > 0,
    ...(options.max > 0 ? { max: options.max } : {}),
    timeWindow: options.windowMs,
    errorResponseBuilder: limitExceeded(Math.max(1, options.max), options.windowMs),
  });
}

export default fp(rateLimitPlugin, { name: 'lookalike-rate-limit' });
