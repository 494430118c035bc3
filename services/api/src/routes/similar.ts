import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { rankedSearchByIdWith, rankedSearchWith } from '@lookalike/ranking';
import { SECURITY, requireSnapshot, type RouteContext } from '../context';
import { ApiError } from '../errors';
import { checkFilterFields, parseFilter } from '../filter';
import type { Admission } from '../inference-limiter';
import { SearchBatcher } from '../search-batcher';
import type { Filter, ImageRef, SearchOptions, SnapshotView } from '../ports';
import {
  Collapse,
  FilterObject,
  FilterString,
  ItemId,
  K,
  MinScore,
  NoQuery,
  SimilarResponse,
  problemResponses,
} from '../schemas';

const ImageRefFields = {
  imageUrl: Type.Optional(
    Type.String({
      maxLength: 2048,
      description: 'http(s) URL of the query image; private and loopback addresses are refused.',
    }),
  ),
  imageBase64: Type.Optional(
    Type.String({ description: 'The image bytes, base64 (a `data:image/…;base64,` prefix is allowed).' }),
  ),
  imagePath: Type.Optional(
    Type.String({ maxLength: 1024, description: 'Path under the server’s CATALOGUE_ROOT.' }),
  ),
};

/** Exactly one image reference. */
const ONE_IMAGE_REF = [
  { required: ['imageUrl'] },
  { required: ['imageBase64'] },
  { required: ['imagePath'] },
];

const SimilarJsonBody = Type.Object(
  {
    ...ImageRefFields,
    k: Type.Optional(K),
    filter: Type.Optional(Type.Union([FilterObject, FilterString])),
    minScore: Type.Optional(MinScore),
    collapse: Type.Optional(Collapse),
  },
  {
    additionalProperties: false,
    oneOf: ONE_IMAGE_REF,
    description: 'Exactly one of imageUrl, imageBase64, imagePath.',
    examples: [{ imageUrl: 'https://shop.example.com/p/15970.jpg', k: 12, filter: { gender: 'Men' } }],
  },
);
type SimilarJsonBody = Static<typeof SimilarJsonBody>;

const SimilarMultipartBody = Type.Object(
  {
    image: Type.String({
      format: 'binary',
      contentMediaType: 'application/octet-stream',
      description: 'The query image file (JPEG, PNG, WebP, GIF, AVIF, TIFF).',
    }),
    k: Type.Optional(K),
    filter: Type.Optional(FilterString),
    minScore: Type.Optional(MinScore),
    collapse: Type.Optional(Collapse),
  },
  { additionalProperties: false },
);
type SimilarMultipartBody = Static<typeof SimilarMultipartBody>;

const ByIdQuery = Type.Object(
  {
    k: Type.Optional(K),
    filter: Type.Optional(FilterString),
    minScore: Type.Optional(MinScore),
    collapse: Type.Optional(Collapse),
  },
  { additionalProperties: false },
);

interface QueryParams {
  k?: number | undefined;
  filter?: unknown;
  minScore?: number | undefined;
  collapse?: number | undefined;
}

/** The per-request state of an image query: its place in the inference queue and the upload. */
const admissions = new WeakMap<FastifyRequest, Admission>();
const uploads = new WeakMap<FastifyRequest, Buffer>();

const similarRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps, limiter }) => {
  const { embedder, images } = deps;
  const { metrics } = app;
  // Concurrent queries share one FAISS pass (a flat query costs a full read of the vectors).
  const batcher = new SearchBatcher((size) => metrics.searchBatchSize.observe(size));

  function searchOptions(query: QueryParams, where: string, snapshot: SnapshotView): SearchOptions {
    const k = query.k ?? 10;
    if (k > config.MAX_K) {
      throw new ApiError('K_TOO_LARGE', `k may be at most ${config.MAX_K} on this server`, {
        fieldErrors: [{ path: `${where}/k`, message: `must be <= ${config.MAX_K}` }],
      });
    }
    const filter: Filter | undefined = parseFilter(query.filter, `${where}/filter`);
    checkFilterFields(filter, snapshot, `${where}/filter`);
    const options: SearchOptions = { k };
    if (filter) options.filter = filter;
    if (query.minScore !== undefined) options.minScore = query.minScore;
    if (query.collapse !== undefined) options.collapse = query.collapse;
    return options;
  }

  // Uploads are parsed only on this route's scope, into a Buffer capped at MAX_UPLOAD_BYTES.
  await app.register(multipart, {
    limits: {
      fileSize: config.MAX_UPLOAD_BYTES,
      files: 1,
      fields: 8,
      fieldSize: 4096,
      parts: 10,
      headerPairs: 64,
    },
  });

  /**
   * Reads the multipart form into `{ image: '<n bytes>', k, … }` for schema validation, keeping the
   * bytes aside. Runs after admission, so at most concurrency + queue uploads are buffered at once.
   */
  async function readMultipart(request: FastifyRequest): Promise<void> {
    if (!request.isMultipart()) return;
    const fields: Record<string, unknown> = {};
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'image') {
            part.file.resume();
            throw new ApiError('MULTIPART_INVALID', `Unexpected file field "${part.fieldname}"; use "image"`);
          }
          const bytes = await part.toBuffer();
          uploads.set(request, bytes);
          fields.image = `(${bytes.length} bytes)`;
        } else {
          if (part.valueTruncated || part.fieldnameTruncated) {
            throw new ApiError('MULTIPART_LIMIT', `Form field "${part.fieldname}" is too long`);
          }
          if (part.fieldname in fields) {
            throw new ApiError('MULTIPART_INVALID', `Form field "${part.fieldname}" is repeated`);
          }
          fields[part.fieldname] =
            typeof part.value === 'object' && part.value !== null ? JSON.stringify(part.value) : part.value;
        }
      }
    } catch (err) {
      // busboy reports broken framing as plain Errors; everything it throws is about the body.
      if (err instanceof Error && !('statusCode' in err) && !(err instanceof ApiError)) {
        throw new ApiError('MULTIPART_INVALID', `Malformed multipart body: ${err.message}`, { cause: err });
      }
      throw err;
    }
    request.body = fields;
  }

  /** Takes a place in the inference queue before the body is read (released when the response ends). */
  function admit(request: FastifyRequest, reply: FastifyReply): void {
    const admission = limiter.admit();
    admissions.set(request, admission);
    reply.raw.once('close', admission.release);
  }

  async function embed(request: FastifyRequest, bytes: Uint8Array) {
    const admission = admissions.get(request);
    if (!admission) throw new Error('image query without admission');
    return admission.run(async () => {
      const end = metrics.inferenceDuration.startTimer();
      try {
        const embedding = await embedder.embed(bytes);
        end({ outcome: 'ok' });
        return embedding;
      } catch (err) {
        end({ outcome: 'error' });
        throw err;
      }
    }, request.deadline);
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
      onRequest: async (request, reply) => admit(request, reply),
      preValidation: async (request) => readMultipart(request),
    },
    async (request) => {
      // Checked before any inference: without a snapshot there is nothing to compare with.
      const snapshot = requireSnapshot(deps);
      let bytes: Uint8Array;
      let query: QueryParams;
      if (request.isMultipart()) {
        const upload = uploads.get(request);
        if (!upload) throw new ApiError('IMAGE_MISSING', 'The form field "image" must be a file upload');
        const body = request.body as SimilarMultipartBody;
        query = body;
        searchOptions(query, '/body', snapshot);
        bytes = upload;
      } else {
        const body = request.body as SimilarJsonBody;
        query = body;
        searchOptions(query, '/body', snapshot);
        const ref = (
          body.imageUrl !== undefined
            ? { imageUrl: body.imageUrl }
            : body.imageBase64 !== undefined
              ? { imageBase64: body.imageBase64 }
              : { imagePath: body.imagePath }
        ) as ImageRef;
        bytes = await images.load(ref, request.deadline);
      }
      const embedding = await embed(request, bytes);
      // The newest snapshot after inference: a reload may have happened meanwhile.
      const live = requireSnapshot(deps);
      if (
        embedding.model.sha256 !== live.model.sha256 ||
        embedding.model.dimension !== live.model.dimension
      ) {
        throw new ApiError(
          'MODEL_MISMATCH',
          `The index was built with ${live.model.id} but this server embeds with ${embedding.model.id}`,
          { permanent: false },
        );
      }
      const options = searchOptions(query, '/body', live);
      const end = metrics.queryDuration.startTimer({ kind: 'image' });
      // The snapshot's learned ranking (fitted by the indexer) re-ranks its plain neighbours, if it has one.
      const results = await rankedSearchWith(live, embedding, options, (candidates) =>
        batcher.search(live, { vector: embedding.vector, options: candidates }),
      );
      end();
      return { indexVersion: live.version, model: live.model.id, results };
    },
  );

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
        querystring: ByIdQuery,
        response: { 200: SimilarResponse, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const snapshot = requireSnapshot(deps);
      const options = searchOptions(request.query, '/query', snapshot);
      const end = metrics.queryDuration.startTimer({ kind: 'item' });
      const { id } = request.params;
      const results = await rankedSearchByIdWith(snapshot, id, options, (candidates) =>
        batcher.search(snapshot, { id, options: candidates }),
      );
      end();
      return { indexVersion: snapshot.version, model: snapshot.model.id, results };
    },
  );
};

export default similarRoutes;
