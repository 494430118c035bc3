import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import etag from '@fastify/etag';
import type { FastifyPluginAsync } from 'fastify';

/** services/api/examples (the example shop page), from src/routes (tests) and dist/routes alike. */
export const EXAMPLES_DIR = path.resolve(__dirname, '../../examples');

/**
 * The bundled widget, built by `pnpm build` (packages/widget: esbuild after tsc -b); null when it
 * has not been built, so the API still starts (without the route) and says why.
 */
export function widgetFile(): string | null {
  try {
    const file = require.resolve('@lookalike/widget/lookalike.js');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/**
 * The example shop page is what a merchant copies: it uses this API and nothing else, under a
 * strict policy (no inline script or style), which the widget has to work under too.
 */
const EXAMPLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * `GET /widget/lookalike.js`, the <lookalike-similar> web components as one ES module, and the
 * example shop page under `/examples/`. Read once at start and served from memory with an ETag
 * (@fastify/etag, 304 to a matching If-None-Match); not part of the API contract, so hidden from the
 * OpenAPI document.
 */
const widgetRoutes: FastifyPluginAsync = async (app) => {
  await app.register(etag);
  const file = widgetFile();
  if (file) {
    const body = readFileSync(file);
    app.get(
      '/widget/lookalike.js',
      { config: { access: 'public', rateLimit: false }, schema: { hide: true } },
      async (_request, reply) =>
        reply
          // Shops load it on every product page: five minutes from the browser cache, then a
          // revalidation (304) — a redeploy reaches every shop within five minutes.
          .header('cache-control', 'public, max-age=300')
          // A module script is fetched in CORS mode even by <script src>, so a shop on another
          // origin needs this whatever CORS_ORIGINS says; the file is public and holds no data. The
          // API calls the widget then makes are the ones CORS_ORIGINS allows or refuses.
          .header('access-control-allow-origin', '*')
          .header('cross-origin-resource-policy', 'cross-origin')
          .header('x-content-type-options', 'nosniff')
          .type(TYPES['.js'] as string)
          .send(body),
    );
  } else {
    app.log.warn(
      'packages/widget/dist/lookalike.js is missing (run pnpm build): /widget/lookalike.js answers 404',
    );
  }

  const examples = readdirSync(EXAMPLES_DIR).filter((name) => path.extname(name) in TYPES);
  for (const name of examples.sort()) {
    const body = readFileSync(path.join(EXAMPLES_DIR, name));
    const type = TYPES[path.extname(name)] as string;
    app.get(
      `/examples/${name}`,
      { config: { access: 'public', rateLimit: false }, schema: { hide: true } },
      async (_request, reply) => {
        reply
          .header('cache-control', 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer');
        if (type.startsWith('text/html')) reply.header('content-security-policy', EXAMPLE_CSP);
        return reply.type(type).send(body);
      },
    );
  }
};

export default widgetRoutes;
