/**
 * The built entry point as a real process: `node services/api/dist/server.js` with env vars, as the
 * system tests and the container start it. Needs a build (`npx tsc -b services/api`; the project's
 * test script builds before running jest).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  PRODUCT_METRIC_PREFIX,
  STANDARD_DEFAULT_METRICS,
  metricConventionViolations,
  metricTypes,
} from '../../../tests/support/metrics';
import { deleteQueueKeys } from '../../../tests/support/indexer';
import { hasSharedModels, httpRequest, modelCacheDir, modelMirror, redisUrl, repoRoot } from './helpers';

const entry = path.join(repoRoot, 'services/api/dist/server.js');
const describeBuilt = existsSync(entry) && hasSharedModels ? describe : describe.skip;

interface Started {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exit: Promise<number | null>;
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ text: line });
    }
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exit };
}

async function waitForLine(
  started: Started,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = started.lines.find(match);
    if (found) return found;
    if (started.child.exitCode !== null) throw new Error(`server exited: ${JSON.stringify(started.lines)}`);
    if (Date.now() > deadline) throw new Error(`no matching log line: ${JSON.stringify(started.lines)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeBuilt('node services/api/dist/server.js', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-process-'));
  });
  const prefix = `api-process-${process.pid}-${Date.now()}`;
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
    await deleteQueueKeys(redisUrl, prefix);
  });

  test('PORT=0: logs {"msg":"listening","url"}, serves, and exits 0 on SIGTERM after closing', async () => {
    const started = start({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      MODEL_CACHE_DIR: modelCacheDir,
      MODEL_MIRROR: modelMirror,
      INFERENCE_CONCURRENCY: '1',
      LOG_LEVEL: 'info',
    });
    try {
      const listening = await waitForLine(started, (line) => line.msg === 'listening');
      const url = listening.url as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(listening.port).toBeGreaterThan(0);

      const health = await httpRequest(url, '/healthz', { headers: { 'x-request-id': 'proc-1' } });
      expect(health.statusCode).toBe(200);
      const ready = await httpRequest(url, '/readyz', { headers: { 'x-request-id': 'proc-1r' } });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks).toEqual({ snapshot: { ok: false, version: null }, redis: { ok: true } });

      // Metric names: Node's defaults under their standard names, the rest lookalike_, gauges never _total.
      const scraped = await httpRequest(url, '/metrics', { headers: { 'x-request-id': 'proc-1m' } });
      expect(scraped.statusCode).toBe(200);
      const types = metricTypes(scraped.body);
      for (const name of STANDARD_DEFAULT_METRICS) expect(types.has(name)).toBe(true);
      expect(
        [...types.keys()].filter((name) => name.startsWith(PRODUCT_METRIC_PREFIX)).length,
      ).toBeGreaterThan(5);
      expect(metricConventionViolations(types)).toEqual([]);

      // One info line per request, written when it is answered: method, route pattern, URL, status, duration.
      const item = await httpRequest(url, '/v1/items/some-item', { headers: { 'x-request-id': 'proc-0' } });
      const completed = await waitForLine(
        started,
        (line) => line.reqId === 'proc-0' && line.msg === 'request completed',
      );
      expect(completed).toMatchObject({
        level: 30,
        msg: 'request completed',
        method: 'GET',
        route: '/v1/items/:id',
        url: '/v1/items/some-item',
        statusCode: item.statusCode,
        durationMs: expect.any(Number),
      });

      // Credentials stay out of the process's real log: a key in the query, a bearer header.
      const refused = await httpRequest(url, '/v1/index?api_key=proc-query-secret-1', {
        headers: { 'x-request-id': 'proc-2', authorization: 'Bearer proc-header-secret-2' },
      });
      expect(refused.statusCode).toBeGreaterThanOrEqual(400);
      const refusedLine = await waitForLine(
        started,
        (line) => line.reqId === 'proc-2' && line.msg === 'request completed',
      );
      expect(refusedLine).toMatchObject({
        url: '/v1/index?api_key=[REDACTED]',
        statusCode: refused.statusCode,
      });
      // Every line of a request has arrived once its "request completed" line has (it is the last).
      for (const reqId of ['proc-0', 'proc-2']) {
        expect(started.lines.filter((line) => line.reqId === reqId && line.level === 30)).toHaveLength(1);
      }
      // Probes are logged at debug: nothing at info.
      expect(started.lines.filter((line) => String(line.reqId).startsWith('proc-1'))).toEqual([]);
      // The embedder says it is ready once.
      expect(started.lines.filter((line) => line.msg === 'embedder ready')).toHaveLength(1);
      const logged = started.lines.map((line) => JSON.stringify(line)).join('\n');
      expect(logged).not.toContain('proc-query-secret-1');
      expect(logged).not.toContain('proc-header-secret-2');

      started.child.kill('SIGTERM');
      expect(await started.exit).toBe(0);
      expect(started.lines.some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM')).toBe(
        true,
      );
      expect(started.lines.some((line) => line.msg === 'closed')).toBe(true);
    } finally {
      if (started.child.exitCode === null) started.child.kill('SIGKILL');
    }
  }, 90_000);

  test('bad configuration: exit 1 naming every bad variable, nothing started', async () => {
    const started = start({ PORT: 'eighty', MAX_K: '0', CORS_ORIGINS: 'not a url' });
    let stderr = '';
    started.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await started.exit).toBe(1);
    expect(stderr).toContain('Invalid configuration');
    expect(stderr).toMatch(/PORT: /);
    expect(stderr).toMatch(/MAX_K: /);
    expect(stderr).toMatch(/CORS_ORIGINS/);
    expect(stderr).toContain('.env.example');
    expect(stderr).not.toMatch(/\bat .+:\d+:\d+/);
  }, 30_000);
});
