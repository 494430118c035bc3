import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { IMAGE_REF_LIMITS } from '@lookalike/contracts';
import { MAX_ITEMS_PER_JOB } from '@lookalike/queue';
import { SECURITY, redisCall, type RouteContext } from '../../context';
import { ApiError } from '../../errors';
import type { CatalogueItem } from '../../ports';
import { ItemId, Metadata, alwaysSent, component, jsonResponse, problemResponses } from '../../schemas';

/** One request is one job: the queue's limit per job. */
export const MAX_ITEMS_PER_REQUEST = MAX_ITEMS_PER_JOB;

const UpsertItem = component(
  'UpsertItem',
  Type.Object(
    {
      id: ItemId,
      imageUrl: Type.Optional(
        Type.String({
          maxLength: IMAGE_REF_LIMITS.maxUrlLength,
          description: 'http(s) URL the indexer fetches.',
        }),
      ),
      imagePath: Type.Optional(
        Type.String({
          maxLength: IMAGE_REF_LIMITS.maxPathLength,
          description: 'Path under the indexer’s CATALOGUE_ROOT.',
        }),
      ),
      imageBase64: Type.Optional(Type.String({ description: 'The image bytes, base64.' })),
      metadata: Type.Optional(Metadata),
    },
    {
      additionalProperties: false,
      oneOf: [{ required: ['imageUrl'] }, { required: ['imagePath'] }, { required: ['imageBase64'] }],
      description: 'One catalogue item with exactly one of imageUrl, imagePath, imageBase64.',
    },
  ),
);

const UpsertBody = component(
  'UpsertRequest',
  Type.Object(
    {
      items: Type.Array(UpsertItem, {
        minItems: 1,
        maxItems: MAX_ITEMS_PER_REQUEST,
        description: `1–${MAX_ITEMS_PER_REQUEST} items, ids unique within the request.`,
      }),
    },
    {
      additionalProperties: false,
      examples: [
        {
          items: [
            {
              id: 'sku-15970',
              imageUrl: 'https://shop.example.com/p/15970.jpg',
              metadata: { gender: 'Men', articleType: 'Shirts', year: 2011 },
            },
          ],
        },
      ],
      description: 'Items to add or replace, as one job.',
    },
  ),
);

export const JobAccepted = component(
  'JobAccepted',
  Type.Object(
    { jobId: Type.String({ description: 'Poll GET /v1/jobs/{jobId}.' }) },
    { additionalProperties: false, description: 'Accepted: the job is queued; poll its Location.' },
  ),
);

/** A 202 with the Location of the job. */
const jobAcceptedResponse = jsonResponse('Accepted: the job is queued; poll its Location.', JobAccepted, {
  location: alwaysSent(Type.String({ description: '/v1/jobs/{jobId}' })),
});

/**
 * Catalogue changes, each queued as one job for the indexer (202 with the job's Location): upsert
 * items (POST /v1/items), delete one (DELETE /v1/items/{id}), re-embed all (POST /v1/reindex).
 */
const itemChangeRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps }) => {
  const { queue } = deps;
  const accepted = (jobId: string) => ({ jobId });

  app.post(
    '/v1/items',
    {
      config: { access: 'write' },
      schema: {
        tags: ['catalogue'],
        operationId: 'upsertItems',
        summary: 'Add or replace items (queued)',
        description:
          'Queues one job that fetches, embeds and indexes the items; an item whose image bytes did not ' +
          'change is left as is. Per-item failures are listed in the job result.',
        security: SECURITY.write,
        body: UpsertBody,
        response: { 202: jobAcceptedResponse, ...problemResponses(400, 401, 413, 415) },
      },
    },
    async (request, reply) => {
      const seen = new Set<string>();
      const items: CatalogueItem[] = [];
      for (const [index, item] of request.body.items.entries()) {
        if (seen.has(item.id)) {
          throw new ApiError('DUPLICATE_ID', `Item id "${item.id}" appears more than once`, {
            fieldErrors: [{ path: `/body/items/${index}/id`, message: 'duplicate id' }],
          });
        }
        seen.add(item.id);
        const metadata = item.metadata ?? {};
        if (item.imageUrl !== undefined) items.push({ id: item.id, metadata, imageUrl: item.imageUrl });
        else if (item.imagePath !== undefined)
          items.push({ id: item.id, metadata, imagePath: item.imagePath });
        else if (item.imageBase64 !== undefined) {
          items.push({ id: item.id, metadata, imageBase64: item.imageBase64 });
        } else {
          throw new ApiError('IMAGE_REF_INVALID', `Item "${item.id}" has no image`);
        }
      }
      const jobId = await redisCall(() => queue.enqueue({ kind: 'upsert', items }), config.REDIS_TIMEOUT_MS);
      request.log.info({ jobId, items: items.length }, 'upsert queued');
      return reply
        .code(202)
        .header('location', `/v1/jobs/${encodeURIComponent(jobId)}`)
        .send(accepted(jobId));
    },
  );

  app.delete(
    '/v1/items/:id',
    {
      config: { access: 'write' },
      schema: {
        tags: ['catalogue'],
        operationId: 'deleteItem',
        summary: 'Remove an item (queued)',
        description: 'Always 202: an id the index does not have is reported as `notFound` in the job result.',
        security: SECURITY.write,
        params: Type.Object({ id: ItemId }),
        response: { 202: jobAcceptedResponse, ...problemResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const jobId = await redisCall(
        () => queue.enqueue({ kind: 'delete', ids: [request.params.id] }),
        config.REDIS_TIMEOUT_MS,
      );
      request.log.info({ jobId, id: request.params.id }, 'delete queued');
      return reply
        .code(202)
        .header('location', `/v1/jobs/${encodeURIComponent(jobId)}`)
        .send(accepted(jobId));
    },
  );

  app.post(
    '/v1/reindex',
    {
      config: { access: 'write' },
      schema: {
        tags: ['catalogue'],
        operationId: 'reindex',
        summary: 'Re-embed every item (queued)',
        description: 'Rebuilds the index from the stored item references, e.g. after a model change.',
        security: SECURITY.write,
        response: { 202: jobAcceptedResponse, ...problemResponses(400, 401, 413, 415) },
      },
    },
    async (request, reply) => {
      const jobId = await redisCall(() => queue.enqueue({ kind: 'reindex' }), config.REDIS_TIMEOUT_MS);
      request.log.info({ jobId }, 'reindex queued');
      return reply
        .code(202)
        .header('location', `/v1/jobs/${encodeURIComponent(jobId)}`)
        .send(accepted(jobId));
    },
  );
};

export default itemChangeRoutes;
