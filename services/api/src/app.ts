import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { Logger } from '@lookalike/config';
import type { ApiConfig } from './config';
import type { RouteContext } from './context';
import auth from './plugins/auth';
import deadline from './plugins/deadline';
import metrics from './plugins/metrics';
import openapi from './plugins/openapi';
import problem, { clientErrorHandler, frameworkErrorHandler } from './plugins/problem';
import rateLimit from './plugins/rate-limit';
import requestLog from './plugins/request-log';
import { redactingLogger } from './log-redaction';
import type { ApiDeps } from './ports';
import { componentSchemas } from './schemas';
import { createValidatorCompiler } from './validation';
import demoRoutes from './routes/demo';
import widgetRoutes from './routes/widget';
import indexFieldsRoute from './routes/index/fields';
import indexInfoRoute from './routes/index/info';
import itemChangeRoutes from './routes/items/changes';
import getItemRoute from './routes/items/get-item';
import itemImageRoute from './routes/items/image';
import listItemsRoute from './routes/items/list';
import jobRoutes from './routes/jobs/get-job';
import opsRoutes from './routes/ops/health';
import recommendRoute from './routes/recommend/recommend';
import byImageRoute from './routes/similar/by-image';
import byItemRoute from './routes/similar/by-item';
import { InferenceQueue } from './search/inference-queue';
import { SearchService } from './search/search-service';
// Last: its schemas register after the others, so openapi.json lists its components last.
import eventRoutes from './routes/events/post-events';

export interface BuildAppOptions {
  config: ApiConfig;
  /** Request logs go here; omit for a silent app (tests, document generation). */
  logger?: Logger;
  /** Adapters the caller creates and closes (real ones in server.ts, fakes in tests). */
  deps: ApiDeps;
  /** Serve Swagger UI at /docs (default true). */
  docsUi?: boolean;
}

/** A client-supplied request id is kept (for tracing across services) only when it looks sane. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/**
 * Builds the HTTP app; never listens. Plugins first (errors, CORS, rate limit, auth, metrics,
 * OpenAPI), then the versioned routes, each with its TypeBox schema as the single source of truth.
 */
export async function buildApp(options: BuildAppOptions): Promise<App> {
  const { config, deps } = options;
  const app = Fastify({
    ...(options.logger
      ? { loggerInstance: redactingLogger(options.logger) as FastifyBaseLogger }
      : { logger: false }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // plugins/request-log writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.MAX_BODY_BYTES,
    // Socket-level guard against clients that trickle a body forever (answered 408 by Node).
    requestTimeout: config.REQUEST_TIMEOUT_MS * 2,
    trustProxy: config.TRUST_PROXY,
    routerOptions: { maxParamLength: 256 },
    // Errors raised before the error handler can see them still answer problem+json.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Named body schemas (schemas.ts component()): shared with the serialisers, the validators and
  // the OpenAPI document, where they are `#/components/schemas/<name>`.
  const sharedSchemas = componentSchemas();
  for (const schema of sharedSchemas) app.addSchema(schema);
  app.setValidatorCompiler(createValidatorCompiler(sharedSchemas));

  // Only JSON (everywhere) and multipart (image upload) bodies; anything else is 415.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // Graceful close: responses finishing after close() began also end their keep-alive connection,
  // so close() completes once in-flight requests are done instead of waiting out keep-alive timers.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  await app.register(requestLog);
  await app.register(problem);
  await app.register(deadline, { timeoutMs: config.REQUEST_TIMEOUT_MS });
  if (config.CORS_ORIGINS.length > 0) {
    await app.register(cors, {
      origin: config.CORS_ORIGINS.includes('*') ? '*' : config.CORS_ORIGINS,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['content-type', 'authorization', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after', 'location'],
      maxAge: 600,
    });
  }
  if (config.RATE_LIMIT_MAX > 0 || config.EVENTS_RATE_LIMIT_MAX > 0) {
    // With RATE_LIMIT_MAX=0 only routes with a limit of their own (POST /v1/events) are limited.
    await app.register(rateLimit, { max: config.RATE_LIMIT_MAX, windowMs: config.RATE_LIMIT_WINDOW });
  }
  await app.register(auth, {
    apiKey: config.API_KEY,
    eventsKey: config.EVENTS_KEY,
    protectReads: config.API_KEY_READS,
  });

  const inference = new InferenceQueue(config.INFERENCE_CONCURRENCY, config.INFERENCE_QUEUE);
  await app.register(metrics, {
    snapshots: deps.snapshots,
    queue: deps.queue,
    inference,
    redisTimeoutMs: config.REDIS_TIMEOUT_MS,
  });
  await app.register(openapi, { ui: options.docsUi ?? true });

  const search = new SearchService(config, deps, inference, app.metrics);
  const context: RouteContext = { config, deps, search };
  // One plugin per route file. The order is the order of the paths in openapi/openapi.json (the
  // committed document is compared byte for byte), not a grouping: keep it when adding routes.
  for (const routes of [
    byImageRoute,
    byItemRoute,
    recommendRoute,
    getItemRoute,
    itemChangeRoutes,
    jobRoutes,
    indexInfoRoute,
    opsRoutes,
    listItemsRoute,
    indexFieldsRoute,
    itemImageRoute,
    eventRoutes,
  ]) {
    await app.register(routes, context);
  }
  await app.register(demoRoutes, { eventsKey: config.EVENTS_KEY, apiKey: Boolean(config.API_KEY) });
  // The shop widget (/widget/lookalike.js) and its example page (/examples/).
  await app.register(widgetRoutes);
  return app;
}
