/** The contract oracle itself: it must refuse what the document does not allow. */
import { ContractChecker } from './contract';

const contract = new ContractChecker();
const json = 'application/json; charset=utf-8';
const problem = 'application/problem+json; charset=utf-8';
const problemBody = (status: number, code: string) =>
  JSON.stringify({ type: `urn:lookalike:problem:${code}`, title: 'x', status, code, detail: 'x' });

describe('ContractChecker', () => {
  test('maps concrete paths to their documented templates, literal paths first', () => {
    expect(contract.templateOf('GET', '/v1/items/sku-1/similar?k=3')).toBe('/v1/items/{id}/similar');
    expect(contract.templateOf('GET', '/v1/items/sku-1')).toBe('/v1/items/{id}');
    expect(contract.templateOf('DELETE', '/v1/items/sku-1')).toBe('/v1/items/{id}');
    expect(contract.templateOf('POST', '/v1/items')).toBe('/v1/items');
    expect(() => contract.templateOf('PUT', '/v1/items/sku-1')).toThrow(/not an operation/);
    expect(() => contract.templateOf('GET', '/v2/items')).toThrow(/not an operation/);
  });

  test('accepts a documented response', () => {
    expect(() =>
      contract.check('GET', '/healthz', {
        statusCode: 200,
        headers: { 'content-type': json },
        body: '{"status":"ok"}',
      }),
    ).not.toThrow();
  });

  test.each([
    [
      'an undocumented status',
      'GET',
      '/healthz',
      404,
      json,
      '{"status":"ok"}',
      {},
      /status 404 is not documented/,
    ],
    ['a body off the schema', 'GET', '/healthz', 200, json, '{"status":"fine"}', {}, /does not match/],
    ['an extra field', 'GET', '/healthz', 200, json, '{"status":"ok","x":1}', {}, /does not match/],
    ['an undocumented media type', 'GET', '/healthz', 200, 'text/html', '<p>ok</p>', {}, /not documented/],
    [
      'an error that is not problem+json',
      'GET',
      '/v1/index',
      401,
      json,
      problemBody(401, 'UNAUTHORIZED'),
      {},
      /not documented/,
    ],
    [
      'a 503 without Retry-After',
      'GET',
      '/readyz',
      503,
      problem,
      problemBody(503, 'NOT_READY'),
      {},
      /retry-after is missing/,
    ],
    ['a 202 without Location', 'POST', '/v1/reindex', 202, json, '{"jobId":"1"}', {}, /location is missing/],
    [
      'a bad Retry-After',
      'GET',
      '/readyz',
      503,
      problem,
      problemBody(503, 'NOT_READY'),
      { 'retry-after': 'soon' },
      /header retry-after/,
    ],
  ])('refuses %s', (_name, method, template, statusCode, contentType, body, headers, error) => {
    expect(() =>
      contract.check(method, template, {
        statusCode,
        headers: { 'content-type': contentType, ...headers },
        body,
      }),
    ).toThrow(error);
  });

  test('coverage lists every documented operation, exercised or not', () => {
    const fresh = new ContractChecker();
    fresh.check('GET', '/healthz', {
      statusCode: 200,
      headers: { 'content-type': json },
      body: '{"status":"ok"}',
    });
    const coverage = fresh.coverage();
    expect(coverage.size).toBe(fresh.operations().length);
    expect(coverage.get('GET /healthz')).toEqual([200]);
    expect(coverage.get('GET /v1/index')).toEqual([]);
  });
});
