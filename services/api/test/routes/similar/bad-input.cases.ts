import { multipartBody, pixelBombPng, solidPng } from '../../helpers';
import { MAX_UPLOAD, type BadCase, type BadInputEnv } from '../../bad-input/harness';

/** Malformed requests to the similar routes and their documented problems (run by test/bad-input.test.ts). */
export async function similarBadInputCases(env: BadInputEnv): Promise<BadCase[]> {
  const { good, truncatedJpeg, text, upload, form, post, loopbackUrl } = env;
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
  // --- search parameters
  add({
    name: 'k = 0',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?k=0',
    request: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'k = abc',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?k=abc',
    request: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'k = 1000 (JSON)',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageBase64: good.toString('base64'), k: 1000 }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'k as a string in JSON',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageBase64: good.toString('base64'), k: '5' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'minScore = 2',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?minScore=2',
    request: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'collapse = 0',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?collapse=0',
    request: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'unknown query parameter',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?limit=5',
    request: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'filter without a colon',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?filter=colour',
    request: {},
    status: 400,
    code: 'INVALID_FILTER',
  });
  add({
    name: 'filter with an empty value',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?filter=colour:',
    request: {},
    status: 400,
    code: 'INVALID_FILTER',
  });
  add({
    name: 'filter with a bad field name',
    template: '/v1/items/{id}/similar',
    path: `/v1/items/item-1/similar?filter=${encodeURIComponent('col our:red')}`,
    request: {},
    status: 400,
    code: 'INVALID_FILTER',
  });
  add({
    name: 'filter on an unknown field',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?filter=brand:acme',
    request: {},
    status: 400,
    code: 'UNKNOWN_FILTER_FIELD',
  });
  add({
    name: 'filter as broken JSON',
    template: '/v1/items/{id}/similar',
    path: `/v1/items/item-1/similar?filter=${encodeURIComponent('{"colour":')}`,
    request: {},
    status: 400,
    code: 'INVALID_FILTER',
  });
  add({
    name: 'filter object with a nested value',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageBase64: good.toString('base64'), filter: { colour: { $ne: 'red' } } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  // --- image references
  add({
    name: 'bad base64',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageBase64: '!!!not base64!!!' }),
    status: 400,
    code: 'SOURCE_BAD_BASE64',
  });
  add({
    name: 'base64 of a text file',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageBase64: text.toString('base64') }),
    status: 415,
    code: 'SOURCE_NOT_IMAGE',
  });
  add({
    name: 'SSRF: loopback URL',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageUrl: loopbackUrl }),
    status: 400,
    code: 'SOURCE_BLOCKED_ADDRESS',
  });
  add({
    name: 'SSRF: cloud metadata URL',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageUrl: 'http://169.254.169.254/latest/meta-data/' }),
    status: 400,
    code: 'SOURCE_BLOCKED_ADDRESS',
  });
  add({
    name: 'SSRF: IPv6 loopback',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageUrl: 'http://[::1]:6379/' }),
    status: 400,
    code: 'SOURCE_BLOCKED_ADDRESS',
  });
  add({
    name: 'file:// URL',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageUrl: 'file:///etc/passwd' }),
    status: 400,
    code: 'SOURCE_BAD_URL',
  });
  add({
    name: 'imagePath escaping the catalogue root',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imagePath: '../../etc/passwd' }),
    status: 400,
    code: 'SOURCE_PATH_OUTSIDE_ROOT',
  });
  add({
    name: 'two image references',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ imageUrl: 'https://example.com/a.jpg', imageBase64: good.toString('base64') }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'no image reference',
    template: '/v1/similar',
    path: '/v1/similar',
    request: post({ k: 3 }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'filter on an internal field',
    template: '/v1/items/{id}/similar',
    path: '/v1/items/item-1/similar?filter=_source:x',
    request: {},
    status: 400,
    code: 'INVALID_FILTER',
  });
  return cases;
}
