/**
 * Rate limiting on the running API process over real HTTP: the per-client limit answers 429
 * problem+json with Retry-After, a forged X-Forwarded-For does not reset it (TRUST_PROXY is off by
 * default), and health checks stay exempt. The in-process unit test (services/api/test/limits.test.ts)
 * cannot show how the real server keys clients.
 */
import {
  apiEnv,
  deleteQueueKeys,
  killAllProcesses,
  sharedRedisUrl,
  startApi,
  tempDir,
  uniquePrefix,
  type RunningApi,
} from './support';

jest.setTimeout(120_000);

describe('API rate limit (real process, loopback HTTP)', () => {
  const prefix = uniquePrefix('api-rate-limit');
  const data = tempDir('api-rate-limit');
  let api: RunningApi;

  beforeAll(async () => {
    api = await startApi(
      'api-rate-limit',
      apiEnv({
        redisUrl: sharedRedisUrl,
        prefix,
        dataDir: data.dir,
        extra: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' },
      }),
    );
  });

  afterAll(async () => {
    await api?.process.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  test('the fourth request in the window gets 429 with Retry-After; X-Forwarded-For does not escape it; health is exempt', async () => {
    const statuses: number[] = [];
    // No snapshot is published: /v1/index answers 503 NO_SNAPSHOT, which counts like any answer.
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${api.url}/v1/index`)).status);
    expect(statuses).toEqual([503, 503, 503]);

    const limited = await fetch(`${api.url}/v1/index`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 });

    const forged = await fetch(`${api.url}/v1/index`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(forged.status).toBe(429);

    for (let i = 0; i < 5; i++) expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });
});
