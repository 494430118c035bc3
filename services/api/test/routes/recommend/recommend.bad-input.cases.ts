import { MAX_UPLOAD, type BadCase, type BadInputEnv } from '../../bad-input/harness';

/** Bad multi-example queries and their problems (run by test/bad-input.test.ts, real embedder). */
export async function recommendBadInputCases(env: BadInputEnv): Promise<BadCase[]> {
  const { good, truncatedJpeg, text, post, loopbackUrl } = env;
  const cases: BadCase[] = [];
  const add = (name: string, body: unknown, status: number, code: string) =>
    cases.push({
      name: `recommend: ${name}`,
      template: '/v1/recommend',
      path: '/v1/recommend',
      request: post(body),
      status,
      code,
    });
  const one = [{ id: 'item-1' }];
  // --- shape
  add('no positive', { negative: one }, 400, 'VALIDATION_FAILED');
  add('positive not a list', { positive: { id: 'item-1' } }, 400, 'VALIDATION_FAILED');
  add('an example that is a bare string', { positive: ['item-1'] }, 400, 'VALIDATION_FAILED');
  add(
    'an example with an id and an image',
    { positive: [{ id: 'item-1', imageBase64: good.toString('base64') }] },
    400,
    'VALIDATION_FAILED',
  );
  add(
    'an imagePath example (not offered here)',
    { positive: [{ imagePath: 'a.jpg' }] },
    400,
    'VALIDATION_FAILED',
  );
  add('negativeWeight as a string', { positive: one, negativeWeight: '0.5' }, 400, 'VALIDATION_FAILED');
  add(
    'a crop (image queries only)',
    { positive: one, crop: { x: 0, y: 0, w: 1, h: 1 } },
    400,
    'VALIDATION_FAILED',
  );
  add('k = 0', { positive: one, k: 0 }, 400, 'VALIDATION_FAILED');
  add(
    'filter on an unknown field',
    { positive: one, negative: [{ id: 'item-2' }], filter: 'nope:1' },
    400,
    'UNKNOWN_FILTER_FIELD',
  );
  add('filter without a colon', { positive: one, filter: 'colour' }, 400, 'INVALID_FILTER');
  // --- ids
  add('an unknown positive id', { positive: [{ id: 'item-9' }] }, 404, 'EXAMPLE_NOT_FOUND');
  add('an unknown negative id', { positive: one, negative: [{ id: 'item-9' }] }, 404, 'EXAMPLE_NOT_FOUND');
  add(
    'examples that cancel out',
    { positive: one, negative: one, negativeWeight: 1 },
    400,
    'DEGENERATE_QUERY',
  );
  // --- images, through the same path as POST /v1/similar
  add('bad base64', { positive: [{ imageBase64: '!!!not base64!!!' }] }, 400, 'SOURCE_BAD_BASE64');
  add(
    'base64 of a text file',
    { positive: one, negative: [{ imageBase64: text.toString('base64') }] },
    415,
    'SOURCE_NOT_IMAGE',
  );
  add(
    'a truncated JPEG',
    { positive: [{ imageBase64: truncatedJpeg.toString('base64') }] },
    422,
    'IMAGE_CORRUPT',
  );
  add('SSRF: loopback URL', { positive: [{ imageUrl: loopbackUrl }] }, 400, 'SOURCE_BLOCKED_ADDRESS');
  add(
    'file:// URL',
    { positive: one, negative: [{ imageUrl: 'file:///etc/passwd' }] },
    400,
    'SOURCE_BAD_URL',
  );
  // Every image of the request shares one upload's body budget.
  add(
    'images over one upload together',
    { positive: [{ imageBase64: 'A'.repeat(MAX_UPLOAD) }, { imageBase64: 'A'.repeat(MAX_UPLOAD) }] },
    413,
    'BODY_TOO_LARGE',
  );
  return cases;
}
