import etag from '@fastify/etag';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import { STATUS_BY_CODE } from '../errors';
import { ALWAYS_SENT, RATE_LIMIT_HEADERS } from '../schemas';

export const API_VERSION = '1.0.0';

function errorCodeTable(): string {
  const rows = Object.entries(STATUS_BY_CODE)
    .sort(([a, sa], [b, sb]) => sa - sb || a.localeCompare(b))
    .map(([code, status]) => `| \`${code}\` | ${status} |`);
  return ['| code | status |', '| --- | --- |', ...rows].join('\n');
}

const DESCRIPTION = `Visual "more like this" search over a product catalogue.

Queries are answered from the newest published index snapshot, swapped in without a restart; every
search response names the \`indexVersion\` that answered. Catalogue changes are queued jobs
(\`202 { jobId }\`), applied by the indexer and visible after the next snapshot.

**Auth.** When the server has \`API_KEY\`, write routes need \`Authorization: Bearer <key>\`; with
\`API_KEY_READS=true\` read routes need it too. \`POST /v1/events\` takes \`EVENTS_KEY\` (a key that
allows nothing else, for shop front ends) or \`API_KEY\`; with neither set on the server it is open,
like writes without \`API_KEY\`. \`/healthz\`, \`/readyz\` and \`/metrics\` are open.

**Errors** are \`application/problem+json\` (RFC 9457) with a stable \`code\` (a SOURCE_HTTP_ERROR
from a remote 5xx is answered with 502):

${errorCodeTable()}
`;

/**
 * Documents the rate-limit headers on every response of a route that @fastify/rate-limit covers
 * (registered globally: every route except those with `config.rateLimit: false`). Returns a copy:
 * the route's own schema, which Fastify serialises with, is left as it is.
 */
const rateLimitHeaderSchemas = Object.fromEntries(
  Object.entries(RATE_LIMIT_HEADERS).map(([name, { schema }]) => [name, schema]),
);

function withRateLimitHeaders(schema: FastifySchema, config: unknown): FastifySchema {
  const exempt = (config as { rateLimit?: unknown } | undefined)?.rateLimit === false;
  const responses = (schema as { response?: Record<string, { headers?: object }> }).response;
  if (exempt || !responses) return schema;
  const documented = Object.fromEntries(
    Object.entries(responses).map(([status, response]) => [
      status,
      { ...response, headers: { ...rateLimitHeaderSchemas, ...response.headers } },
    ]),
  );
  return { ...schema, response: documented } as FastifySchema;
}

interface HeaderObject {
  required?: boolean;
  schema?: Record<string, unknown>;
  $ref?: string;
}

/**
 * Final touches to the response headers of the document: those marked with alwaysSent() become
 * `required: true` (OpenAPI's header objects have no JSON Schema keyword for it; the others, such
 * as the rate-limit headers, are optional), and the rate-limit headers, documented on nearly every
 * response, are written once under `components/headers` and referenced.
 */
function finishResponseHeaders<T>(document: T): T {
  const doc = document as {
    paths?: Record<string, Record<string, { responses?: Record<string, { headers?: object }> }>>;
    components?: { headers?: Record<string, HeaderObject> };
  };
  const shared: Record<string, HeaderObject> = {};
  for (const operations of Object.values(doc.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const response of Object.values(operation.responses ?? {})) {
        const headers = (response.headers ?? {}) as Record<string, HeaderObject>;
        for (const [name, header] of Object.entries(headers)) {
          if (header.schema?.[ALWAYS_SENT] === true) {
            delete header.schema[ALWAYS_SENT];
            header.required = true;
          }
          const component = RATE_LIMIT_HEADERS[name]?.component;
          if (component) {
            shared[component] ??= header;
            headers[name] = { $ref: `#/components/headers/${component}` };
          }
        }
      }
    }
  }
  if (Object.keys(shared).length > 0) {
    doc.components = { ...doc.components, headers: { ...doc.components?.headers, ...shared } };
  }
  return document;
}

/**
 * OpenAPI 3.1 generated from the route schemas (the single source of truth), served at /docs with
 * Swagger UI and written to openapi/openapi.json by `pnpm --filter @lookalike/api openapi:generate`.
 */
async function openapiPlugin(app: FastifyInstance, options: { ui: boolean }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'lookalike API',
        version: API_VERSION,
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      servers: [
        {
          url: '/',
          description: 'The server that serves this document (at /docs/json): the API is at its root.',
        },
        {
          url: 'http://{host}:{port}',
          description: 'A server by host and port (PORT, default 8080).',
          variables: { host: { default: 'localhost' }, port: { default: '8080' } },
        },
      ],
      tags: [
        { name: 'search', description: 'Similar items by image or by item' },
        { name: 'catalogue', description: 'Items in the index and changes to them' },
        { name: 'jobs', description: 'Progress and outcome of catalogue changes' },
        { name: 'ops', description: 'Health, readiness, metrics' },
        {
          name: 'events',
          description: 'What shoppers did with the results (impressions, clicks, purchases)',
        },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'The server’s API_KEY' },
          eventsKey: {
            type: 'http',
            scheme: 'bearer',
            description:
              'The server’s EVENTS_KEY: a key for shop front ends that allows POST /v1/events only',
          },
        },
      },
    },
    transform: ({ schema, url, route }) => ({ schema: withRateLimitHeaders(schema, route.config), url }),
    transformObject: (documentObject) =>
      'openapiObject' in documentObject
        ? finishResponseHeaders(documentObject.openapiObject)
        : documentObject.swaggerObject,
    // Shared schemas keep their $id as their component name (`#/components/schemas/Problem`).
    refResolver: {
      buildLocalReference(json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`;
      },
    },
  });
  if (options.ui) {
    // In a child context, so @fastify/etag covers only the docs: /docs/json (the document) and
    // /docs/yaml answer an ETag and 304 to a matching If-None-Match (static files have their own).
    await app.register(async (docs) => {
      await docs.register(etag);
      await docs.register(swaggerUi, {
        routePrefix: '/docs',
        uiConfig: { deepLinking: true, tryItOutEnabled: true },
      });
    });
  }
}

export default fp(openapiPlugin, { name: 'lookalike-openapi', fastify: '5.x' });
