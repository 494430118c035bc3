import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SECURITY, type RouteContext } from '../../context';
import { ItemId, problemResponses } from '../../schemas';
import { ByItemQuery, SimilarResponse } from './schemas';

/** GET /v1/items/{id}/similar: the items that look like a stored item (no inference). */
const byItemRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { search }) => {
  app.get(
    '/v1/items/:id/similar',
    {
      config: { access: 'read' },
      schema: {
        tags: ['search'],
        operationId: 'searchByItem',
        summary: 'Items that look like a catalogue item',
        description:
          'Uses the vector stored for the item (no inference); the item itself is not in the results.',
        security: SECURITY.read,
        params: Type.Object({ id: ItemId }),
        querystring: ByItemQuery,
        response: { 200: SimilarResponse, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { blend, ...query } = request.query;
      return search.byItem(request.params.id, query, '/query', blend);
    },
  );
};

export default byItemRoute;
