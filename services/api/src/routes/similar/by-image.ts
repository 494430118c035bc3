import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import type { ImageRef } from '../../ports';
import type { Admission } from '../../search/inference-queue';
import { problemResponses } from '../../schemas';
import { readMultipart, registerMultipart, uploadOf } from './multipart';
import { NoQuery, SimilarJsonBody, SimilarMultipartBody, SimilarResponse } from './schemas';

/** Each image query's place in the inference queue, from admission to the end of its response. */
const admissions = new WeakMap<FastifyRequest, Admission>();

/** POST /v1/similar: the items that look like an uploaded or referenced image. */
const byImageRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps, search }) => {
  await registerMultipart(app, config);

  /** Takes a place in the inference queue (released when the response ends), or 503 INFERENCE_BUSY. */
  function admit(request: FastifyRequest, reply: FastifyReply): void {
    const admission = search.admit();
    admissions.set(request, admission);
    reply.raw.once('close', admission.release);
  }

  app.post(
    '/v1/similar',
    {
      bodyLimit: Math.ceil((config.MAX_UPLOAD_BYTES * 4) / 3) + 64 * 1024,
      config: { access: 'read' },
      schema: {
        tags: ['search'],
        operationId: 'searchByImage',
        summary: 'Items that look like an image',
        description:
          'Upload an image (multipart field `image`) or reference one (JSON `imageUrl` / `imageBase64` / ' +
          '`imagePath`); returns the k most similar items of the live snapshot, best first.',
        security: SECURITY.read,
        querystring: NoQuery,
        body: {
          content: {
            'application/json': { schema: SimilarJsonBody },
            'multipart/form-data': { schema: SimilarMultipartBody },
          },
        },
        response: { 200: SimilarResponse, ...problemResponses(400, 401, 413, 415, 422, 502, 504) },
      },
      // Admission before the body is read, so a burst cannot buffer unbounded uploads (admitting
      // only fully received uploads instead: call admit() after readMultipart in preValidation).
      onRequest: async (request, reply) => admit(request, reply),
      preValidation: async (request) => readMultipart(request),
    },
    async (request) => {
      const admission = admissions.get(request);
      if (!admission) throw new Error('image query without admission');
      // Checked before any inference: without a snapshot there is nothing to compare with.
      const snapshot = requireSnapshot(deps);
      if (request.isMultipart()) {
        const image = uploadOf(request);
        const query = search.parse(request.body as SimilarMultipartBody, '/body');
        search.checkFields(query, snapshot);
        return search.byImage(admission, image, query, request.deadline);
      }
      const body = request.body as SimilarJsonBody;
      const query = search.parse(body, '/body');
      search.checkFields(query, snapshot);
      const ref = (
        body.imageUrl !== undefined
          ? { imageUrl: body.imageUrl }
          : body.imageBase64 !== undefined
            ? { imageBase64: body.imageBase64 }
            : { imagePath: body.imagePath }
      ) as ImageRef;
      const image = await deps.images.load(ref, request.deadline);
      return search.byImage(admission, image, query, request.deadline);
    },
  );
};

export default byImageRoute;
