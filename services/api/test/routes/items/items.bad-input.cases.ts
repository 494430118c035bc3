import { type BadCase, type BadInputEnv } from '../../bad-input/harness';

/** Malformed requests to the items routes and their documented problems (run by test/bad-input.test.ts). */
export async function itemsBadInputCases(env: BadInputEnv): Promise<BadCase[]> {
  const { good, upload, form, post } = env;
  const cases: BadCase[] = [];
  const add = (c: BadCase) => cases.push(c);
  add({
    name: 'multipart to a JSON-only route',
    template: '/v1/items',
    path: '/v1/items',
    request: form(await upload({ data: good })),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  });
  add({
    name: 'prototype poisoning',
    template: '/v1/items',
    path: '/v1/items',
    request: {
      method: 'POST',
      body: '{"items":[],"__proto__":{"admin":true}}',
      headers: { 'content-type': 'application/json' },
    },
    status: 400,
    code: 'INVALID_JSON',
  });
  add({
    name: 'JSON body over MAX_BODY_BYTES',
    template: '/v1/items',
    path: '/v1/items',
    request: post({ items: [{ id: 'a', imageBase64: 'A'.repeat(600 * 1024) }] }),
    status: 413,
    code: 'BODY_TOO_LARGE',
  });
  // --- catalogue writes and ids
  add({
    name: 'upsert: nested metadata',
    template: '/v1/items',
    path: '/v1/items',
    request: post({ items: [{ id: 'a', imageUrl: 'https://e.com/a.jpg', metadata: { tags: { a: 1 } } }] }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'upsert: internal metadata key (_source)',
    template: '/v1/items',
    path: '/v1/items',
    request: post({
      items: [{ id: 'a', imageUrl: 'https://e.com/a.jpg', metadata: { _source: 'path:../../etc/passwd' } }],
    }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'upsert: id with spaces',
    template: '/v1/items',
    path: '/v1/items',
    request: post({ items: [{ id: 'a b', imageUrl: 'https://e.com/a.jpg' }] }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'upsert: numeric id',
    template: '/v1/items',
    path: '/v1/items',
    request: post({ items: [{ id: 42, imageUrl: 'https://e.com/a.jpg' }] }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'upsert: no items',
    template: '/v1/items',
    path: '/v1/items',
    request: post({ items: [] }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'upsert: 501 items',
    template: '/v1/items',
    path: '/v1/items',
    request: post({
      items: Array.from({ length: 501 }, (_, i) => ({ id: `i${i}`, imageUrl: 'https://e.com/a.jpg' })),
    }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'upsert: item without image',
    template: '/v1/items',
    path: '/v1/items',
    request: post({ items: [{ id: 'a', metadata: {} }] }),
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  add({
    name: 'item id too long',
    template: '/v1/items/{id}',
    path: `/v1/items/${'x'.repeat(129)}`,
    request: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  return cases;
}
