import { publishedFeedback } from '@lookalike/feedback';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import etag from '@fastify/etag';
import type { ProjectionDescriptor } from '@lookalike/index-store';
import {
  ETAG_HEADERS,
  ModelName,
  NOT_MODIFIED,
  component,
  jsonResponse,
  problemResponses,
} from '../../schemas';

const IndexProjection = component(
  'IndexProjection',
  Type.Object(
    {
      kind: Type.String({ description: 'How it was fitted, e.g. "pca-whiten".' }),
      id: Type.String({
        pattern: '^[0-9a-f]{16}$',
        description:
          'Digest of the projection: two versions serve the same space exactly when their ids are equal.',
      }),
      outputDimension: Type.Integer({ minimum: 1, description: 'Dimension it maps raw embeddings to.' }),
      fittedOn: Type.Integer({ minimum: 0, description: 'Items the fit saw.' }),
      fittedAt: Type.String({ format: 'date-time', description: 'When it was fitted.' }),
    },
    { additionalProperties: false, description: 'The learned projection served vectors are in.' },
  ),
);

const IndexFeedback = component(
  'IndexFeedback',
  Type.Object(
    {
      eventsUntil: Type.String({
        format: 'date-time',
        description: 'Time of the newest event aggregated (decay is measured to it).',
      }),
      sources: Type.Integer({ minimum: 0, description: 'Items with co-engaged neighbours published.' }),
      pairs: Type.Integer({ minimum: 0, description: 'Co-engaged (source, item) pairs published.' }),
      items: Type.Integer({ minimum: 0, description: 'Items with an item-level lift.' }),
      weights: Type.Object(
        { pair: Type.Number(), item: Type.Number() },
        {
          additionalProperties: false,
          description: 'Blend weights fitted on held-out sessions (both 0: feedback changes nothing yet).',
        },
      ),
      floor: Type.Union([Type.Number(), Type.Null()], {
        description: 'Visual similarity floor below which feedback never promotes an item (null: none).',
      }),
      candidates: Type.Integer({ description: 'Visual candidates per by-id query feedback may re-order.' }),
    },
    {
      additionalProperties: false,
      description: 'The shopper feedback published with this snapshot (see blend on by-id queries).',
    },
  ),
);

const IndexInfo = component(
  'IndexInfo',
  Type.Object(
    {
      version: Type.Integer({ description: 'Snapshot version being served.' }),
      count: Type.Integer({ minimum: 0, description: 'Items in it.' }),
      model: ModelName,
      modelSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
      dimension: Type.Integer({
        minimum: 1,
        description:
          'Dimension of the vectors searched (the served space): the projection output dimension when a ' +
          'projection is served, else embeddingDimension.',
      }),
      embeddingDimension: Type.Integer({
        minimum: 1,
        description: "Dimension of the model's raw embedding (what an uploaded image is embedded to).",
      }),
      projection: Type.Union([IndexProjection, Type.Null()], {
        description:
          'The learned projection the served vectors are in (raw embeddings are projected with it before ' +
          'search), or null: the raw embeddings are searched.',
      }),
      builtAt: Type.String({ format: 'date-time' }),
      feedback: Type.Union([IndexFeedback, Type.Null()], {
        description: 'The shopper feedback by-id queries blend in, or null: none published (visual only).',
      }),
      refused: Type.Union(
        [
          Type.Object(
            {
              version: Type.Integer({
                description: 'The refused version (-1: CURRENT itself was unreadable).',
              }),
              reason: Type.String({ description: 'Why it failed verification (checksum, size, model, …).' }),
              at: Type.String({ format: 'date-time', description: 'When it was last refused.' }),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ],
        {
          description:
            'A newer published snapshot this API refused to load (truncated or altered file, another model): ' +
            'the version above keeps serving until a later snapshot verifies. null when none.',
        },
      ),
    },
    { additionalProperties: false, description: 'The snapshot being served.' },
  ),
);

/** What an operator needs of the served projection (its model is the index's, its input dimension embeddingDimension). */
function projectionInfo(projection: ProjectionDescriptor | null) {
  if (!projection) return null;
  const { kind, id, outputDimension, fittedOn, fittedAt } = projection;
  return { kind, id, outputDimension, fittedOn, fittedAt };
}

/** The published feedback's summary, or null when the snapshot carries none. */
function feedbackInfo(snapshot: Parameters<typeof publishedFeedback>[0]) {
  const feedback = publishedFeedback(snapshot);
  if (!feedback) return null;
  const { table, blend, settings } = feedback;
  return {
    eventsUntil: new Date(table.builtAt).toISOString(),
    sources: table.sources.size,
    pairs: table.pairCount,
    items: table.items.size,
    weights: { ...blend.weights },
    floor: Number.isFinite(blend.floor) ? blend.floor : null,
    candidates: settings.candidates,
  };
}

/** GET /v1/index: the snapshot being served (version, size, model). */
const indexInfoRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { deps }) => {
  await app.register(etag);
  app.get(
    '/v1/index',
    {
      config: { access: 'read' },
      schema: {
        tags: ['search'],
        operationId: 'getIndex',
        summary: 'The snapshot being served',
        security: SECURITY.read,
        response: {
          200: jsonResponse('The snapshot being served.', IndexInfo, ETAG_HEADERS),
          304: NOT_MODIFIED,
          ...problemResponses(401),
        },
      },
    },
    async () => {
      const snapshot = requireSnapshot(deps);
      return {
        version: snapshot.version,
        count: snapshot.count,
        model: snapshot.model.id,
        modelSha256: snapshot.model.sha256,
        dimension: snapshot.dimension,
        embeddingDimension: snapshot.model.dimension,
        projection: projectionInfo(snapshot.projection),
        builtAt: snapshot.builtAt,
        feedback: feedbackInfo(snapshot),
        refused: deps.snapshots.refusal,
      };
    },
  );
};

export default indexInfoRoute;
