import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors';

export interface RateLimitOptions {
  /** Requests per client per window (> 0; the caller skips the plugin for 0). */
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

/**
 * Per-client rate limit. The 429 problem states the limit as configured ("300 requests per
 * 1 minute"); how long is left until the window resets is the Retry-After header's job.
 */
async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const requests = options.max === 1 ? 'request' : 'requests';
  const limit = `${options.max} ${requests} per ${describeWindow(options.windowMs)}`;
  await app.register(rateLimit, {
    global: true,
    max: options.max,
    timeWindow: options.windowMs,
    errorResponseBuilder: (_request, context) =>
      new ApiError('RATE_LIMITED', `Rate limit of ${limit} exceeded`, {
        permanent: false,
        retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)),
      }),
  });
}

export default fp(rateLimitPlugin, { name: 'lookalike-rate-limit' });
