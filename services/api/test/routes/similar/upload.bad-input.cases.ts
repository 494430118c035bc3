import { multipartBody, pixelBombPng, solidPng } from '../../helpers';
import { MAX_UPLOAD, type BadCase, type BadInputEnv } from '../../bad-input/harness';

/** Malformed uploads and bodies to POST /v1/similar and their documented problems (run by test/bad-input.test.ts). */
export async function similarUploadBadInputCases(env: BadInputEnv): Promise<BadCase[]> {
  const { good, truncatedJpeg, text, upload, form } = env;
  const cases: BadCase[] = [];
  const add = (c: BadCase) => cases.push(c);
  // --- uploads
  add({
    name: 'no file',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(multipartBody([{ name: 'k', value: '3' }])),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    // Search options of an image query go in the body; `?k=` would otherwise be silently ignored.
    name: 'search option in the query string of an upload',
    template: '/v1/similar',
    path: '/v1/similar?k=3',
    request: form(await upload({ data: good })),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'empty file',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(await upload({ data: Buffer.alloc(0) })),
    status: 422,
    code: 'IMAGE_EMPTY',
  });
  add({
    name: 'text file',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(await upload({ data: text, contentType: 'text/csv', filename: 'a.csv' })),
    status: 415,
    code: 'IMAGE_UNSUPPORTED',
  });
  add({
    name: 'truncated JPEG',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(await upload({ data: truncatedJpeg })),
    status: 422,
    code: 'IMAGE_CORRUPT',
  });
  add({
    name: 'pixel bomb (50k × 50k PNG)',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(await upload({ data: pixelBombPng(50_000, 50_000), contentType: 'image/png' })),
    status: 413,
    code: 'IMAGE_TOO_MANY_PIXELS',
  });
  add({
    name: 'tiny image (8×8)',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(await upload({ data: await solidPng([1, 2, 3], 8, 8), contentType: 'image/png' })),
    status: 422,
    code: 'IMAGE_TOO_SMALL',
  });
  add({
    name: 'upload over MAX_UPLOAD_BYTES',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(await upload({ data: Buffer.concat([good, Buffer.alloc(MAX_UPLOAD)]) })),
    status: 413,
    code: 'IMAGE_TOO_LARGE',
  });
  add({
    name: 'two files',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(
      multipartBody([
        { name: 'image', filename: 'a.jpg', contentType: 'image/jpeg', data: good },
        { name: 'image', filename: 'b.jpg', contentType: 'image/jpeg', data: good },
      ]),
    ),
    status: 413,
    code: 'MULTIPART_LIMIT',
  });
  add({
    name: 'file under another field name',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(await upload({ data: good, name: 'photo' })),
    status: 400,
    code: 'MULTIPART_INVALID',
  });
  add({
    name: 'image sent as a text field',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(multipartBody([{ name: 'image', value: 'not a file' }])),
    status: 400,
    code: 'IMAGE_MISSING',
  });
  add({
    name: 'form field too long',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(
      multipartBody([
        { name: 'filter', value: 'x'.repeat(5000) },
        { name: 'image', filename: 'a.jpg', contentType: 'image/jpeg', data: good },
      ]),
    ),
    status: 413,
    code: 'MULTIPART_LIMIT',
  });
  add({
    name: 'unknown form field',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form(
      multipartBody([
        { name: 'colour', value: 'red' },
        { name: 'image', filename: 'a.jpg', contentType: 'image/jpeg', data: good },
      ]),
    ),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  const cut = await upload({ data: good });
  add({
    name: 'multipart body cut off mid-file',
    template: '/v1/similar',
    path: '/v1/similar',
    request: form({ body: cut.body.subarray(0, cut.body.length - 400), contentType: cut.contentType }),
    status: 400,
    code: 'MULTIPART_INVALID',
  });
  add({
    name: 'multipart without boundary',
    template: '/v1/similar',
    path: '/v1/similar',
    request: { method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data' } },
    status: 400,
    code: 'MULTIPART_INVALID',
  });
  // --- content types and bodies
  add({
    name: 'text/plain body',
    template: '/v1/similar',
    path: '/v1/similar',
    request: { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  });
  add({
    name: 'raw JPEG body',
    template: '/v1/similar',
    path: '/v1/similar',
    request: { method: 'POST', body: good, headers: { 'content-type': 'image/jpeg' } },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  });
  add({
    name: 'malformed JSON',
    template: '/v1/similar',
    path: '/v1/similar',
    request: { method: 'POST', body: '{"imageUrl":', headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'INVALID_JSON',
  });
  add({
    name: 'empty JSON body',
    template: '/v1/similar',
    path: '/v1/similar',
    request: { method: 'POST', body: '', headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'INVALID_JSON',
  });
  // --- crop (a form field `x,y,w,h`; `good` is 320×240)
  const withCrop = (crop: string) =>
    form(
      multipartBody([
        { name: 'crop', value: crop },
        { name: 'image', filename: 'q.jpg', contentType: 'image/jpeg', data: good },
      ]),
    );
  for (const [crop, why] of [
    ['a,b,c,d', 'not numbers'],
    ['0,0,0.5', 'three numbers'],
    ['0,0,1.5,1', 'a number over 1'],
    ['0;0;0.5;1', 'not comma-separated'],
    ['{"x":0,"y":0,"w":0.5,"h":1}', 'JSON instead of x,y,w,h'],
  ] as const) {
    add({
      name: `crop field ${why}`,
      template: '/v1/similar',
      path: '/v1/similar',
      request: withCrop(crop),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
  }
  add({
    name: 'crop field past the right edge (x + w > 1)',
    template: '/v1/similar',
    path: '/v1/similar',
    request: withCrop('0.6,0,0.5,1'),
    status: 400,
    code: 'INVALID_CROP',
  });
  add({
    name: 'crop field of zero width',
    template: '/v1/similar',
    path: '/v1/similar',
    request: withCrop('0.5,0,0,1'),
    status: 400,
    code: 'INVALID_CROP',
  });
  add({
    // 0.02 × 320 = 6.4 → 6 px wide: known only once the embedder has read the image's size.
    name: 'crop field under 8×8 pixels of the image',
    template: '/v1/similar',
    path: '/v1/similar',
    request: withCrop('0.5,0,0.02,1'),
    status: 400,
    code: 'INVALID_CROP',
  });
  return cases;
}
