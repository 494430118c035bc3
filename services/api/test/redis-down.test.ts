/**
 * Readiness and writes with the real CatalogueQueue, over real HTTP: on the shared Redis, and on a
 * port where nothing listens (Redis down). Searches need only the snapshot, so the replica stays
 * ready; writes and job reads answer 503 QUEUE_UNAVAILABLE with Retry-After.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { CatalogueQueue } from '@lookalike/queue';
import { deleteQueueKeys } from '../../../tests/support/indexer';
import {
  ContractChecker,
  FakeSnapshot,
  buildTestApp,
  fakeVector,
  redisUrl,
  solidPng,
  type TestApp,
} from './helpers';

const contract = new ContractChecker();

/** A loopback port nothing listens on (bound, read, released). */
function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** A private, throw-away redis-server (no persistence) on `port`, resolved once it listens. */
async function privateRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(true));
      socket.once('error', () => resolve(false));
      socket.once('connect', () => socket.end());
    });
    if (up) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function appOnQueue(
  url: string,
): Promise<{ t: TestApp; queue: CatalogueQueue; image: Buffer; prefix: string }> {
  const prefix = `api-redis-down-${process.pid}-${Date.now()}`;
  const queue = new CatalogueQueue({
    redisUrl: url,
    prefix,
    enqueueTimeoutMs: 500,
  });
  const t = await buildTestApp({ REDIS_TIMEOUT_MS: '500' }, { queue });
  const image = await solidPng([10, 120, 200]);
  t.snapshots.swap(new FakeSnapshot(4, [{ id: 'a', vector: fakeVector(image), metadata: { kind: 'x' } }]));
  return { t, queue, image, prefix };
}

describe('Redis up and down, real queue', () => {
  test('Redis up: ready with redis ok, writes accepted', async () => {
    const { t, queue, prefix } = await appOnQueue(redisUrl);
    try {
      const ready = await t.request('/readyz');
      contract.check('GET', '/readyz', ready);
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({
        status: 'ready',
        checks: { snapshot: { ok: true, version: 4 }, redis: { ok: true } },
      });
      const reindex = await t.request('/v1/reindex', { method: 'POST' });
      contract.check('POST', '/v1/reindex', reindex);
      expect(reindex.statusCode).toBe(202);
    } finally {
      await t.app.close();
      await queue.close();
      await deleteQueueKeys(redisUrl, prefix);
    }
  });

  test('Redis down: still ready (redis reported down), searches served, every write 503 QUEUE_UNAVAILABLE with Retry-After', async () => {
    const { t, queue, image } = await appOnQueue(`redis://127.0.0.1:${await deadPort()}`);
    try {
      const ready = await t.request('/readyz');
      contract.check('GET', '/readyz', ready);
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({
        status: 'ready',
        checks: { snapshot: { ok: true, version: 4 }, redis: { ok: false } },
      });

      const search = await t.request('/v1/similar', {
        method: 'POST',
        json: { imageBase64: image.toString('base64') },
      });
      contract.check('POST', '/v1/similar', search);
      expect(search.statusCode).toBe(200);
      expect((await t.request('/v1/items/a/similar')).statusCode).toBe(200);

      const writes: Array<
        [method: 'POST' | 'DELETE' | 'GET', template: string, path: string, json?: unknown]
      > = [
        ['POST', '/v1/items', '/v1/items', { items: [{ id: 'b', imageUrl: 'https://e.com/b.jpg' }] }],
        ['DELETE', '/v1/items/{id}', '/v1/items/a'],
        ['POST', '/v1/reindex', '/v1/reindex'],
        ['GET', '/v1/jobs/{jobId}', '/v1/jobs/1'],
      ];
      for (const [method, template, path, json] of writes) {
        const started = Date.now();
        const response = await t.request(path, { method, ...(json ? { json } : {}) });
        contract.check(method, template, response);
        expect([path, response.statusCode]).toEqual([path, 503]);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(response.json()).toMatchObject({ code: 'QUEUE_UNAVAILABLE', status: 503, retryAfter: 5 });
        expect(response.headers['retry-after']).toBe('5');
        expect(Date.now() - started).toBeLessThan(3000);
      }
    } finally {
      await t.app.close();
      await queue.close();
    }
  });

  test('a private Redis stopped and started again: ready throughout, writes 503 while it is down and accepted after', async () => {
    const port = await deadPort();
    let redis = await privateRedis(port);
    const { t, queue } = await appOnQueue(`redis://127.0.0.1:${port}`);
    const readyChecks = async () => (await t.request('/readyz')).json().checks;
    try {
      expect((await t.request('/v1/reindex', { method: 'POST' })).statusCode).toBe(202);
      expect(await readyChecks()).toMatchObject({ redis: { ok: true } });

      await stopRedis(redis);
      const ready = await t.request('/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json().checks).toMatchObject({ redis: { ok: false } });
      const refused = await t.request('/v1/reindex', { method: 'POST' });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().code).toBe('QUEUE_UNAVAILABLE');

      redis = await privateRedis(port);
      let status = 0;
      for (let i = 0; i < 100 && status !== 202; i++) {
        status = (await t.request('/v1/reindex', { method: 'POST' })).statusCode;
        if (status !== 202) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe(202);
      expect(await readyChecks()).toMatchObject({ redis: { ok: true } });
    } finally {
      await t.app.close();
      await queue.close();
      await stopRedis(redis);
    }
  }, 60_000);
});
