import { type BadCase, type BadInputEnv } from '../../bad-input/harness';

/** Bad search parameters, filters and image references of the similarity queries, and their problems (run by test/bad-input.test.ts). */
export async function similarQueryBadInputCases(env: BadInputEnv): Promise<BadCase[]> {
  const { good, text, post, loopbackUrl } = env;
  const cases: BadCase[] = [];
  const add = (c: BadCase) => cases.push(c);
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
  // --- crop (a JSON object { x, y, w, h }; `good` is 320×240)
  const withCrop = (crop: unknown) => post({ imageBase64: good.toString('base64'), crop });
  for (const [crop, why] of [
    [{ x: 0, y: 0, w: 0, h: 1 }, 'of zero width'],
    [{ x: 0, y: 0, w: 0.5 }, 'without h'],
    [{ x: -0.1, y: 0, w: 0.5, h: 1 }, 'with a negative x'],
    [{ x: 0, y: 0, w: 0.5, h: 1, unit: 'px' }, 'with an unknown property'],
    ['0,0,0.5,1', 'as the form field text'],
  ] as const) {
    add({
      name: `JSON crop ${why}`,
      template: '/v1/similar',
      path: '/v1/similar',
      request: withCrop(crop),
      status: 400,
      code: 'VALIDATION_FAILED',
    });
  }
  add({
    name: 'JSON crop below the bottom edge (y + h > 1)',
    template: '/v1/similar',
    path: '/v1/similar',
    request: withCrop({ x: 0, y: 0.5, w: 0.5, h: 0.6 }),
    status: 400,
    code: 'INVALID_CROP',
  });
  add({
    // 0.03 × 240 = 7.2 → 7 px high.
    name: 'JSON crop under 8×8 pixels of the image',
    template: '/v1/similar',
    path: '/v1/similar',
    request: withCrop({ x: 0.2, y: 0.2, w: 0.5, h: 0.03 }),
    status: 400,
    code: 'INVALID_CROP',
  });
  return cases;
}
