import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import etag from '@fastify/etag';
import type { FastifyPluginAsync } from 'fastify';

/** services/api/public, from src/routes (tests) and dist/routes (the built service) alike. */
export const DEMO_DIR = path.resolve(__dirname, '../../public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/**
 * URL → file of the demo page; plain HTML, CSS and JS, no build step: index.html at `/`, every style
 * sheet and script of the folder under `/demo/` (the scripts are ES modules, demo.js the entry that
 * imports the others), so a new module needs no change here.
 */
function demoFiles(): Array<{ url: string; file: string; type: string }> {
  const files = readdirSync(DEMO_DIR).filter((file) => file !== 'index.html' && path.extname(file) in TYPES);
  return [
    { url: '/', file: 'index.html' },
    ...files.sort().map((file) => ({ url: `/demo/${file}`, file })),
  ].map((entry) => ({ ...entry, type: TYPES[path.extname(entry.file)] as string }));
}

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
 * files are read once at start (a few kB) and served from memory with an ETag (@fastify/etag: 304 to
 * a matching If-None-Match); they are not part of the API contract, so they stay out of the OpenAPI
 * document.
 */
const demoRoutes: FastifyPluginAsync = async (app) => {
  await app.register(etag);
  for (const { url, file, type } of demoFiles()) {
    const body = readFileSync(path.join(DEMO_DIR, file));
    app.get(
      url,
      { config: { access: 'public', rateLimit: false }, schema: { hide: true } },
      async (_request, reply) => {
        reply
          // Revalidated on every load (304 when unchanged), so a redeploy shows up at once.
          .header('cache-control', 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer');
        if (url === '/') reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
        return reply.type(type).send(body);
      },
    );
  }
};

export default demoRoutes;
