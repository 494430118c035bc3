import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import { itemNotFound } from '../../errors';
import etag from '@fastify/etag';
import {
  ETAG_HEADERS,
  ItemId,
  Metadata,
  NOT_MODIFIED,
  component,
  jsonResponse,
  problemResponses,
} from '../../schemas';

const StoredItemResponse = component(
  'Item',
  Type.Object(
    {
      id: ItemId,
      metadata: Metadata,
      contentHash: Type.String({
        pattern: '^[0-9a-f]{64}$',
        description:
          'sha256 fingerprint of what the indexer embedded (image bytes, metadata, model); it changes ' +
          'whenever the item is re-indexed with different content.',
      }),
      indexedAt: Type.String({ format: 'date-time' }),
      indexVersion: Type.Integer({ description: 'Version of the snapshot that answered.' }),
    },
    { additionalProperties: false, description: 'The item as indexed in the live snapshot.' },
  ),
);

/** GET /v1/items/{id}: one item of the live snapshot (its fields listed: never its `source`). */
const getItemRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { deps }) => {
  await app.register(etag);
  app.get(
    '/v1/items/:id',
    {
      config: { access: 'read' },
      schema: {
        tags: ['catalogue'],
        operationId: 'getItem',
        summary: 'An item of the live snapshot',
        security: SECURITY.read,
        params: Type.Object({ id: ItemId }),
        response: {
          200: jsonResponse('The item as indexed in the live snapshot.', StoredItemResponse, ETAG_HEADERS),
          304: NOT_MODIFIED,
          ...problemResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const snapshot = requireSnapshot(deps);
      const item = snapshot.get(request.params.id);
      if (!item) throw itemNotFound(request.params.id);
      return {
        id: item.id,
        metadata: item.metadata,
        contentHash: item.contentHash,
        indexedAt: item.indexedAt,
        indexVersion: snapshot.version,
      };
    },
  );
};

export default getItemRoute;
