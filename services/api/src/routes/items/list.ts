import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import { checkFilterFields, parseFilter } from '../../search/filter';
import { FilterString, ItemId, Metadata as MetadataSchema, component, problemResponses } from '../../schemas';

const LIST_LIMIT_MAX = 100;

const ListQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: LIST_LIMIT_MAX, default: 24, description: 'Items per page.' }),
    ),
    offset: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0, description: 'Items to skip.' }),
    ),
    filter: Type.Optional(FilterString),
  },
  { additionalProperties: false },
);

const ItemSummary = component(
  'ItemSummary',
  Type.Object(
    { id: ItemId, metadata: MetadataSchema },
    { additionalProperties: false, description: 'An item of a catalogue page: its id and metadata.' },
  ),
);

const ItemList = component(
  'ItemList',
  Type.Object(
    {
      indexVersion: Type.Integer({ description: 'Version of the snapshot that answered.' }),
      total: Type.Integer({ minimum: 0, description: 'Items matching the filter (all items without one).' }),
      offset: Type.Integer({ minimum: 0 }),
      limit: Type.Integer({ minimum: 1 }),
      items: Type.Array(ItemSummary, {
        description: 'In index order (the order items were first added).',
      }),
    },
    { additionalProperties: false, description: 'One page of the catalogue.' },
  ),
);

/**
 * GET /v1/items: pages of the catalogue in index order, optionally filtered (the demo page's
 * browser starts here). Each item is listed with its id and metadata only.
 */
const listItemsRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { deps }) => {
  app.get(
    '/v1/items',
    {
      config: { access: 'read' },
      schema: {
        tags: ['catalogue'],
        operationId: 'listItems',
        summary: 'Page through the items of the live snapshot',
        description:
          'Items in index order with their metadata, optionally only those matching `filter` ' +
          '(same syntax as the search routes).',
        security: SECURITY.read,
        querystring: ListQuery,
        response: { 200: ItemList, ...problemResponses(400, 401) },
      },
    },
    async (request) => {
      const snapshot = requireSnapshot(deps);
      const limit = request.query.limit ?? 24;
      const offset = request.query.offset ?? 0;
      const filter = parseFilter(request.query.filter, '/query/filter');
      checkFilterFields(filter, snapshot, '/query/filter');
      const page = snapshot.page(filter, offset, limit);
      const items = page.items.map((item) => ({ id: item.id, metadata: item.metadata }));
      return { indexVersion: snapshot.version, total: page.total, offset, limit, items };
    },
  );
};

export default listItemsRoute;
