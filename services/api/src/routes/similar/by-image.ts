import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SECURITY, requireSnapshot, type RouteContext } from '../../context';
import type { ImageRef } from '../../ports';
import type { Admission } from '../../search/inference-queue';
import { problemResponses } from '../../schemas';
import { readMultipart, registerMultipart, uploadOf } from './multipart';
import { NoQuery, SimilarJsonBody, SimilarMultipartBody, SimilarResponse } from './schemas';
import { startUploadBudget } from './upload-budget';

/** Each upload's body budget (UPLOAD_TIMEOUT_MS), from routing until its body is fully received. */
const uploadBudgets = new WeakMap<FastifyRequest, () => void>();

/** POST /v1/similar: the items that look like an uploaded or referenced image. */
const byImageRoute: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps, search }) => {
  await registerMultipart(app, config);

  /**
   * Takes a place in the inference queue (released when the response ends), or 503 INFERENCE_BUSY.
   * Called only once the image bytes are all here (upload parsed, base64 decoded, URL fetched): a
   * client still sending its body holds no place, so slow clients cannot deny service to fast ones.
   */
  function admit(reply: FastifyReply): Admission {
    const admission = search.admit();
    reply.raw.once('close', admission.release);
    return admission;
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
          '`imagePath`); returns the k most similar items of the live snapshot, best first. An optional ' +
          '`crop` searches with a region of the image only: `{ x, y, w, h }` in JSON, the text field ' +
          '`x,y,w,h` in a form (normalised 0–1, see `CropBox`).',
        security: SECURITY.read,
        querystring: NoQuery,
        body: {
          content: {
            'application/json': { schema: SimilarJsonBody },
            'multipart/form-data': { schema: SimilarMultipartBody },
          },
        },
        response: { 200: SimilarResponse, ...problemResponses(400, 401, 408, 413, 415, 422, 502, 504) },
      },
      // The body has its own budget: past UPLOAD_TIMEOUT_MS a still-arriving body is answered 408.
      onRequest: async (request, reply) => {
        uploadBudgets.set(request, startUploadBudget(request, reply, config.UPLOAD_TIMEOUT_MS));
      },
      preValidation: async (request, reply) => {
        try {
          await readMultipart(request);
        } catch (err) {
          // The budget already answered 408 and closed the connection: the read's error is moot.
          if (reply.sent) return;
          throw err;
        }
        // JSON bodies are parsed before this hook; multipart ones just now: the body is all here.
        uploadBudgets.get(request)?.();
      },
    },
    async (request, reply) => {
      // Checked before any inference: without a snapshot there is nothing to compare with.
      const snapshot = requireSnapshot(deps);
      if (request.isMultipart()) {
        const image = uploadOf(request);
        const query = search.parse(request.body as SimilarMultipartBody, '/body');
        search.checkFields(query, snapshot);
        return search.byImage(admit(reply), image, query, request.deadline);
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
      return search.byImage(admit(reply), image, query, request.deadline);
    },
  );
};

export default byImageRoute;
