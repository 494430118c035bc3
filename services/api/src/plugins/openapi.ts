import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { STATUS_BY_CODE } from '../errors';
import { Problem } from '../schemas';

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
\`API_KEY_READS=true\` read routes need it too. \`/healthz\`, \`/readyz\` and \`/metrics\` are open.

**Errors** are \`application/problem+json\` (RFC 9457) with a stable \`code\` (a SOURCE_HTTP_ERROR
from a remote 5xx is answered with 502):

${errorCodeTable()}
`;

/**
 * OpenAPI 3.1 generated from the route schemas (the single source of truth), served at /docs with
 * Swagger UI and written to openapi/openapi.json by `pnpm --filter @lookalike/api openapi:generate`.
 */
async function openapiPlugin(app: FastifyInstance, options: { ui: boolean }): Promise<void> {
  app.addSchema(Problem);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'lookalike API',
        version: API_VERSION,
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      tags: [
        { name: 'search', description: 'Similar items by image or by item' },
        { name: 'catalogue', description: 'Items in the index and changes to them' },
        { name: 'jobs', description: 'Progress and outcome of catalogue changes' },
        { name: 'ops', description: 'Health, readiness, metrics' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'The server’s API_KEY' },
        },
      },
    },
    // Shared schemas keep their $id as their component name (`#/components/schemas/Problem`).
    refResolver: {
      buildLocalReference(json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`;
      },
    },
  });
  if (options.ui) {
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      uiConfig: { deepLinking: true, tryItOutEnabled: true },
    });
  }
}

export default fp(openapiPlugin, { name: 'lookalike-openapi', fastify: '5.x' });
