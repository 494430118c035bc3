import { existsSync, readFileSync, readdirSync } from 'node:fs';
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
 * The widget's shopper-event module (packages/widget/src/events.ts, bundled alone by `pnpm build`), which
 * the page imports as /demo/shopper-events.js so that it posts events exactly as the widget does; null
 * when it has not been built (the page then posts no events and says so in the console).
 */
export function shopperEventsFile(): string | null {
  try {
    const file = require.resolve('@lookalike/widget/events.js');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

export interface DemoOptions {
  /** EVENTS_KEY: public by design (it posts events and nothing else), so the page is given it. */
  eventsKey?: string | undefined;
  /** Whether API_KEY is set: then, without EVENTS_KEY, events need a key the page must not hold. */
  apiKey?: boolean;
}

const escapeAttribute = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * How the page posts shopper events, as <meta> tags after the charset: with EVENTS_KEY, the key
 * (`lookalike-events-key`: the page sends it as the bearer key); with API_KEY alone, `lookalike-events`
 * `off` (events would need API_KEY, which must not reach a browser); with neither, nothing (events are
 * open).
 */
export function eventsMeta(options: DemoOptions): string {
  if (options.eventsKey)
    return `<meta name="lookalike-events-key" content="${escapeAttribute(options.eventsKey)}" />`;
  if (options.apiKey) return '<meta name="lookalike-events" content="off" />';
  return '';
}

const CHARSET = '<meta charset="utf-8" />';

function indexHtml(options: DemoOptions): Buffer {
  const html = readFileSync(path.join(DEMO_DIR, 'index.html'), 'utf8');
  if (!html.includes(CHARSET)) throw new Error(`services/api/public/index.html lacks ${CHARSET}`);
  const meta = eventsMeta(options);
  return Buffer.from(meta ? html.replace(CHARSET, `${CHARSET}\n    ${meta}`) : html, 'utf8');
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
 * The demo page at `/`: search by an uploaded photo or by a catalogue item, with filter chips, "more /
 * not like this" on results (POST /v1/recommend) and shopper events (POST /v1/events). Its files are
 * read once at start (a few kB) and served from memory with an ETag (@fastify/etag: 304 to
 * a matching If-None-Match); they are not part of the API contract, so they stay out of the OpenAPI
 * document.
 */
const demoRoutes: FastifyPluginAsync<DemoOptions> = async (app, options) => {
  await app.register(etag);
  const files = demoFiles();
  const shared = shopperEventsFile();
  if (shared) files.push({ url: '/demo/shopper-events.js', file: shared, type: TYPES['.js'] as string });
  else
    app.log.warn('packages/widget/dist/events.js is missing (run pnpm build): the demo page posts no events');
  for (const { url, file, type } of files) {
    const body = url === '/' ? indexHtml(options) : readFileSync(path.resolve(DEMO_DIR, file));
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
