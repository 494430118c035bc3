import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SECURITY, type RouteContext } from '../../context';
import type { Admission } from '../../search/inference-queue';
import { problemResponses } from '../../schemas';
import { DEFAULT_NEGATIVE_WEIGHT } from '../../search/rocchio';
import { NoQuery, SimilarResponse } from '../similar/schemas';
import { MAX_NEGATIVE, MAX_POSITIVE, RecommendRequest } from './schemas';

/** POST /v1/recommend: "more like these, less like that" from catalogue items and/or images. */
const recommendRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, search }) => {
  app.post(
    '/v1/recommend',
    {
      // Every image of the request together gets one upload's budget, as POST /v1/similar's body does:
      // more images per request must not mean more bytes held per request.
      bodyLimit: Math.ceil((config.MAX_UPLOAD_BYTES * 4) / 3) + 64 * 1024,
      config: { access: 'read' },
      schema: {
        tags: ['search'],
        operationId: 'recommend',
        summary: 'Items like these examples and unlike those',
        description:
          `Multi-example query: 1–${MAX_POSITIVE} \`positive\` and 0–${MAX_NEGATIVE} \`negative\` examples, each a ` +
          'catalogue item (`id`) or an image (`imageUrl`, `imageBase64`; all images of a request share one ' +
          'upload’s body limit, and each takes one place in the inference queue). The query vector is ' +
          `q = normalise(mean(positive) − β·mean(negative)) in the served space (β = \`negativeWeight\`, default ` +
          `${DEFAULT_NEGATIVE_WEIGHT}); every example id is left out of the results. One positive \`id\` and ` +
          'no negative answers exactly what `GET /v1/items/{id}/similar` answers. Unknown example ids are ' +
          '404 `EXAMPLE_NOT_FOUND` (each in `errors`); examples that cancel out are 400 `DEGENERATE_QUERY`.',
        security: SECURITY.read,
        querystring: NoQuery,
        body: RecommendRequest,
        response: { 200: SimilarResponse, ...problemResponses(400, 401, 404, 413, 415, 422, 502, 504) },
      },
    },
    async (request, reply) => {
      const admit = (): Admission => {
        const admission = search.admit();
        reply.raw.once('close', admission.release);
        return admission;
      };
      return search.recommend(request.body, admit, request.deadline);
    },
  );
};

export default recommendRoute;
