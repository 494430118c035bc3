/**
 * Malformed requests against the app on a real port with the real Embedder, ImageSource and
 * snapshot (bad-input/harness.ts): each gets its documented 4xx as problem+json with a stable code,
 * no stack trace, and the server keeps serving. The cases live beside each route folder's tests.
 */
import { badInputServer, type BadCase } from './bad-input/harness';
import { ContractChecker, hasSharedModels, httpRequest, type HttpResponse } from './helpers';
import { eventsBadInputCases } from './routes/events/events.bad-input.cases';
import { itemsBadInputCases } from './routes/items/items.bad-input.cases';
import { jobsBadInputCases } from './routes/jobs/jobs.bad-input.cases';
import { recommendBadInputCases } from './routes/recommend/recommend.bad-input.cases';
import { similarQueryBadInputCases } from './routes/similar/query.bad-input.cases';
import { similarUploadBadInputCases } from './routes/similar/upload.bad-input.cases';

const contract = new ContractChecker();
const describeReal = hasSharedModels ? describe : describe.skip;

describeReal('bad input (real embedder, real HTTP)', () => {
  const server = badInputServer();

  test('every malformed request gets its documented 4xx problem', async () => {
    const env = server.env();
    const { url } = env;
    const cases: BadCase[] = [
      ...(await similarUploadBadInputCases(env)),
      ...(await similarQueryBadInputCases(env)),
      ...(await itemsBadInputCases(env)),
      ...(await jobsBadInputCases(env)),
      ...(await eventsBadInputCases(env)),
      ...(await recommendBadInputCases(env)),
    ];
    expect(cases.length).toBeGreaterThanOrEqual(20);
    const outcomes: string[] = [];
    for (const c of cases) {
      let response: HttpResponse;
      try {
        response = await httpRequest(url, c.path, c.request);
      } catch (err) {
        outcomes.push(`${c.name}: request failed: ${String(err)}`);
        continue;
      }
      const body = response.body;
      const problem = response.headers['content-type']?.startsWith('application/problem+json')
        ? (JSON.parse(body) as { code?: string; status?: number })
        : undefined;
      const ok =
        response.statusCode === c.status &&
        problem?.code === c.code &&
        problem.status === c.status &&
        !/\bat .+:\d+:\d+\)?/.test(body) && // no stack frames
        !body.includes('/work/') &&
        !body.includes('node_modules');
      if (!ok)
        outcomes.push(
          `${c.name}: expected ${c.status} ${c.code}, got ${response.statusCode} ${body.slice(0, 300)}`,
        );
      else contract.check(c.request.method ?? 'GET', c.template, response);
    }
    expect(outcomes).toEqual([]);
  }, 120_000);

  test('the server still serves after all of that', async () => {
    const { url, good } = server.env();
    expect((await httpRequest(url, '/healthz')).statusCode).toBe(200);
    const byImage = await httpRequest(url, '/v1/similar', {
      method: 'POST',
      json: { imageBase64: good.toString('base64'), k: 3, filter: 'size:1|2|3' },
    });
    expect(byImage.statusCode).toBe(200);
    const results = byImage.json().results as Array<{ id: string; score: number }>;
    expect(results[0]?.id).toBe('item-1');
    expect(results[0]?.score).toBeGreaterThan(0.99);
    const byId = await httpRequest(url, '/v1/items/item-2/similar?k=2');
    expect(byId.statusCode).toBe(200);
    const recommend = await httpRequest(url, '/v1/recommend', {
      method: 'POST',
      json: { positive: [{ imageBase64: good.toString('base64') }], negative: [{ id: 'item-2' }], k: 2 },
    });
    expect(recommend.statusCode).toBe(200);
    expect((recommend.json().results as Array<{ id: string }>).map((r) => r.id)).toEqual([
      'item-1',
      'item-3',
    ]);
  });
});
