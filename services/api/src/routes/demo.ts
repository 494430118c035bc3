import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';

/** services/api/public, from src/routes (tests) and dist/routes (the built service) alike. */
export const DEMO_DIR = path.resolve(__dirname, '../../public');

const HTML = 'text/html; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';

/**
 * URL → file of the demo page; plain HTML, CSS and JS, no build step. index.html loads the style
 * sheets in this order; the scripts are ES modules, demo.js the entry that imports the others.
 */
const DEMO_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: HTML },
  '/demo/demo.css': { file: 'demo.css', type: CSS },
  '/demo/controls.css': { file: 'controls.css', type: CSS },
  '/demo/filters.css': { file: 'filters.css', type: CSS },
  '/demo/results.css': { file: 'results.css', type: CSS },
  '/demo/demo.js': { file: 'demo.js', type: JS },
  '/demo/page.js': { file: 'page.js', type: JS },
  '/demo/api.js': { file: 'api.js', type: JS },
  '/demo/filters.js': { file: 'filters.js', type: JS },
  '/demo/cards.js': { file: 'cards.js', type: JS },
  '/demo/views.js': { file: 'views.js', type: JS },
  '/demo/queries.js': { file: 'queries.js', type: JS },
  '/demo/photo-input.js': { file: 'photo-input.js', type: JS },
};

/**
 * The page only talks to this API and shows its thumbnails (plus `blob:` previews of the photo a
 * person picked); nothing inline, nothing third-party.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The demo page at `/`: search by an uploaded photo or by a catalogue item, with filter chips. Its
 * files are read once at start (a few kB) and served from memory with an ETag; they are not part of
 * the API contract, so they stay out of the OpenAPI document.
 */
const demoRoutes: FastifyPluginAsync = async (app) => {
  for (const [url, { file, type }] of Object.entries(DEMO_FILES)) {
    const body = readFileSync(path.join(DEMO_DIR, file));
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 20)}"`;
    app.get(
      url,
      { config: { access: 'public', rateLimit: false }, schema: { hide: true } },
      async (request, reply) => {
        reply
          .header('etag', etag)
          // Revalidated on every load (304 when unchanged), so a redeploy shows up at once.
          .header('cache-control', 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer');
        if (url === '/') reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
        if (request.headers['if-none-match'] === etag) return reply.code(304).send();
        return reply.type(type).send(body);
      },
    );
  }
};

export default demoRoutes;
