import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { thumbnailPath } from '@lookalike/contracts';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import { ApiError, itemNotFound } from '../../errors';
import { ItemId, alwaysSent, exactProblemResponses } from '../../schemas';

/** How long browsers and proxies may reuse a thumbnail before revalidating it (ETag → 304). */
const THUMBNAIL_MAX_AGE_SECONDS = 600;

/** GET /v1/items/{id}/image: the indexer's thumbnail of an item (`thumbnailPath` in @lookalike/contracts). */
const itemImageRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps }) => {
  const dataDir = path.resolve(config.DATA_DIR);
  // Behind an API key for reads, a shared cache must not hand thumbnails to other clients.
  const cacheScope = config.API_KEY && config.API_KEY_READS ? 'private' : 'public';

  app.get(
    '/v1/items/:id/image',
    {
      // A thumbnail costs a stat and a small read: a page of results loads dozens at once, so
      // they are not counted against the rate limit (like the health routes).
      config: { access: 'read', rateLimit: false },
      schema: {
        tags: ['catalogue'],
        operationId: 'getItemImage',
        summary: 'Thumbnail of an item (WebP, at most 256 px)',
        description:
          'Made by the indexer from the bytes it embedded. Cacheable: send If-None-Match with the ETag ' +
          'to get 304. 404 ITEM_NOT_FOUND for an id the live snapshot does not have, 404 ' +
          'THUMBNAIL_NOT_FOUND for an item indexed before thumbnails were kept (re-import it).',
        security: SECURITY.read,
        params: Type.Object({ id: ItemId }),
        response: {
          200: {
            description: 'The thumbnail.',
            content: { 'image/webp': { schema: Type.String({ format: 'binary' }) } },
            headers: {
              etag: alwaysSent(Type.String()),
              'cache-control': alwaysSent(Type.String()),
            },
          },
          304: { description: 'Not Modified: the If-None-Match ETag is current.', type: 'null' },
          ...exactProblemResponses(400, 401, 404, 503),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const snapshot = requireSnapshot(deps);
      if (!snapshot.get(id)) throw itemNotFound(id);
      const file = thumbnailPath(dataDir, id);
      const info = await stat(file).catch(() => null);
      if (!info?.isFile()) {
        throw new ApiError(
          'THUMBNAIL_NOT_FOUND',
          `Item "${id}" has no thumbnail (indexed before thumbnails were kept?); import it again`,
          { details: { id } },
        );
      }
      // Its own ETag rather than @fastify/etag's (which the JSON routes use): made from the file's
      // stat, so a matching If-None-Match (one tag or a list) is answered 304 without reading the
      // thumbnail, where @fastify/etag would hash the bytes read for every request.
      const etag = `W/"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`;
      reply
        .header('etag', etag)
        .header('cache-control', `${cacheScope}, max-age=${THUMBNAIL_MAX_AGE_SECONDS}`)
        .header('x-content-type-options', 'nosniff');
      const ifNoneMatch = request.headers['if-none-match'];
      if (ifNoneMatch?.split(',').some((tag) => tag.trim() === etag)) return reply.code(304).send();
      const bytes = await readFile(file).catch(() => null);
      // Replaced or removed between stat and read (an update or delete racing this request).
      if (!bytes) throw new ApiError('THUMBNAIL_NOT_FOUND', `Item "${id}" has no thumbnail now`);
      return reply.type('image/webp').send(bytes);
    },
  );
};

export default itemImageRoute;
