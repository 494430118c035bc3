import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiConfig } from '../../config';
import { ApiError } from '../../errors';

/** The uploaded image of a multipart request, kept aside from the fields that are validated. */
const uploads = new WeakMap<FastifyRequest, Buffer>();

/** Parses multipart bodies on this plugin's scope only, the upload into a Buffer of at most MAX_UPLOAD_BYTES. */
export async function registerMultipart(app: FastifyInstance, config: ApiConfig): Promise<void> {
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
}

/**
 * Reads the multipart form into `{ image: '<n bytes>', k, … }` for schema validation, keeping the
 * bytes aside (`uploadOf`). Runs before admission (a client still sending holds no inference place);
 * each upload is bounded by MAX_UPLOAD_BYTES and UPLOAD_TIMEOUT_MS.
 */
export async function readMultipart(request: FastifyRequest): Promise<void> {
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

/** The image file of a multipart request, or 400 IMAGE_MISSING when the form had none. */
export function uploadOf(request: FastifyRequest): Buffer {
  const upload = uploads.get(request);
  if (!upload) throw new ApiError('IMAGE_MISSING', 'The form field "image" must be a file upload');
  return upload;
}
