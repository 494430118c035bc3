import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { FIELD_VALUES_CAP } from '@lookalike/filter';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import etag from '@fastify/etag';
import { ETAG_HEADERS, NOT_MODIFIED, component, jsonResponse, problemResponses } from '../../schemas';

const FieldsInfo = component(
  'IndexFields',
  Type.Object(
    {
      indexVersion: Type.Integer({ description: 'Version of the snapshot that answered.' }),
      count: Type.Integer({ minimum: 0, description: 'Items in the snapshot.' }),
      fields: Type.Array(
        Type.Object(
          {
            name: Type.String({ description: 'Metadata field, usable in `filter`.' }),
            items: Type.Integer({ minimum: 1, description: 'Items that have the field.' }),
            distinct: Type.Integer({ minimum: 1, description: 'Distinct values of the field.' }),
            values: Type.Array(
              Type.Object(
                { value: Type.String(), count: Type.Integer({ minimum: 1 }) },
                { additionalProperties: false },
              ),
              { description: `The ${FIELD_VALUES_CAP} most frequent values at most, most frequent first.` },
            ),
          },
          { additionalProperties: false },
        ),
        { description: 'In the order the fields first occur in the catalogue.' },
      ),
    },
    {
      additionalProperties: false,
      description: 'The metadata fields of the live snapshot with value counts (for filter facets).',
    },
  ),
);

/** GET /v1/index/fields: what `filter` can use, with value counts (for facets and filter chips). */
const indexFieldsRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { deps }) => {
  await app.register(etag);
  app.get(
    '/v1/index/fields',
    {
      config: { access: 'read' },
      schema: {
        tags: ['search'],
        operationId: 'getIndexFields',
        summary: 'Metadata fields and value counts of the snapshot',
        description: 'What `filter` can use: every metadata field with its most frequent values and counts.',
        security: SECURITY.read,
        response: {
          200: jsonResponse(
            'The metadata fields of the live snapshot with value counts (for filter facets).',
            FieldsInfo,
            ETAG_HEADERS,
          ),
          304: NOT_MODIFIED,
          ...problemResponses(401),
        },
      },
    },
    async () => {
      const snapshot = requireSnapshot(deps);
      // The snapshot counts them once (it never changes) with the same field index its filters use.
      return { indexVersion: snapshot.version, count: snapshot.count, fields: snapshot.facets() };
    },
  );
};

export default indexFieldsRoute;
