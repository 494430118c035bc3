import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { FIELD_VALUES_CAP, FieldIndex, type FieldFacet } from '@lookalike/filter';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import type { Metadata, SnapshotView } from '../../ports';
import { problemResponses } from '../../schemas';

const FieldsInfo = Type.Object(
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
);

/** Facet counts are computed once per snapshot (a snapshot never changes). */
const facetsBySnapshot = new WeakMap<SnapshotView, FieldFacet[]>();

/** Every metadata field of the snapshot with its value counts, in the order fields first occur. */
function facetsOf(snapshot: SnapshotView): FieldFacet[] {
  const cached = facetsBySnapshot.get(snapshot);
  if (cached) return cached;
  const metadata: Metadata[] = [];
  for (const id of snapshot.ids()) {
    const item = snapshot.get(id);
    if (item) metadata.push(item.metadata);
  }
  const facets = FieldIndex.build((position) => metadata[position] ?? {}, metadata.length).facets();
  facetsBySnapshot.set(snapshot, facets);
  return facets;
}

/** GET /v1/index/fields: what `filter` can use, with value counts (for facets and filter chips). */
const indexFieldsRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { deps }) => {
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
        response: { 200: FieldsInfo, ...problemResponses(401) },
      },
    },
    async () => {
      const snapshot = requireSnapshot(deps);
      return { indexVersion: snapshot.version, count: snapshot.count, fields: facetsOf(snapshot) };
    },
  );
};

export default indexFieldsRoute;
