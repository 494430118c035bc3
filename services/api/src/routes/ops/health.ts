import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SECURITY, redisCall, type RouteContext } from '../../context';
import { ApiError } from '../../errors';
import { sendProblem, toProblem } from '../../plugins/problem';
import { ReadinessChecks, component, exactProblemResponses } from '../../schemas';

const Health = component(
  'Health',
  Type.Object(
    { status: Type.Literal('ok') },
    { additionalProperties: false, description: 'The process is up.' },
  ),
);

const Ready = component(
  'Readiness',
  Type.Object(
    { status: Type.Literal('ready'), checks: ReadinessChecks },
    {
      additionalProperties: false,
      description:
        'Ready: a snapshot is loaded, so searches and reads are served. `checks.redis.ok` false means writes and job reads answer 503 QUEUE_UNAVAILABLE until Redis is back.',
    },
  ),
);

/** Health, readiness and metrics: open to everyone and not rate limited. */
const opsRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps }) => {
  const open = { access: 'public' as const, rateLimit: false as const };

  app.get(
    '/healthz',
    {
      config: open,
      schema: {
        tags: ['ops'],
        operationId: 'health',
        summary: 'The process is up',
        security: SECURITY.public,
        response: {
          200: Health,
          ...exactProblemResponses(),
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: open,
      schema: {
        tags: ['ops'],
        operationId: 'ready',
        summary: 'A snapshot is loaded: searches can be served',
        description:
          'Readiness means this replica can serve searches, which need a snapshot but not Redis: 503 NOT_READY problem (with the same `checks`) only while no snapshot is loaded. Redis being down is reported in `checks.redis` without failing readiness (a balancer should keep sending searches); writes then answer 503 QUEUE_UNAVAILABLE with Retry-After.',
        security: SECURITY.public,
        response: { 200: Ready, ...exactProblemResponses(503) },
      },
    },
    async (request, reply) => {
      const snapshot = deps.snapshots.current();
      const redisOk = await redisCall(() => deps.queue.ping(), config.REDIS_TIMEOUT_MS).then(
        (answer) => answer !== false,
        () => false,
      );
      const checks = {
        snapshot: { ok: snapshot !== null, version: snapshot?.version ?? null },
        redis: { ok: redisOk },
      };
      // Searches need only the snapshot; taking a replica out of rotation because Redis is down would
      // turn a write outage into a search outage. Writes say QUEUE_UNAVAILABLE on their own.
      if (snapshot) return { status: 'ready' as const, checks };
      const missing = ['no index snapshot yet', !redisOk && 'Redis unreachable'].filter(Boolean);
      const problem = toProblem(new ApiError('NOT_READY', `Not ready: ${missing.join(', ')}`), request);
      problem.body.checks = checks;
      return sendProblem(reply, problem);
    },
  );

  app.get(
    '/metrics',
    {
      config: open,
      schema: {
        tags: ['ops'],
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        security: SECURITY.public,
        response: {
          200: {
            description: 'Prometheus text exposition format.',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...exactProblemResponses(),
        },
      },
    },
    async (_request, reply) => {
      const body = await app.metrics.registry.metrics();
      return reply.type(app.metrics.registry.contentType).send(body);
    },
  );
};

export default opsRoutes;
