/**
 * Slow uploads do not starve inference: the API process (services/api/dist/server.js on a real
 * port, real indexer and Redis for its snapshot) admits an image query only once its image is fully
 * received, so 50 clients trickling a multipart body a byte every 500 ms — far more than
 * INFERENCE_CONCURRENCY + INFERENCE_QUEUE — hold no inference place while normal uploads keep
 * answering 200 within their usual latency. A second API process on the same snapshot with a short
 * UPLOAD_TIMEOUT_MS shows a body that is too slow answered 408 UPLOAD_TIMEOUT, connection closed.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { sceneJpeg } from '../services/api/test/fixtures';
import {
  apiEnv,
  deleteQueueKeys,
  indexerEnv,
  killAllProcesses,
  pollUntil,
  sharedRedisUrl,
  startApi,
  startIndexer,
  tempDir,
  uniquePrefix,
  type RunningApi,
  type ServiceProcess,
} from './support';
import { ContractClient, type JobBody, type ProblemBody } from './support/api-client';

jest.setTimeout(90_000);

const TRICKLERS = 50;
const TRICKLE_FOR_MS = 30_000;
const TRICKLE_EVERY_MS = 500;
const SHORT_UPLOAD_TIMEOUT_MS = 2000;
const BOUNDARY = 'slow-upload-boundary';

/** A client on a raw socket that sends headers and the start of a body, then a byte now and then. */
class Trickler {
  private readonly socket: net.Socket;
  private timer: NodeJS.Timeout | undefined;
  /** Everything the server sent back. */
  received = '';
  closed = false;
  readonly closedAt: Promise<number>;

  constructor(port: number, kind: 'multipart' | 'json') {
    const preamble =
      kind === 'multipart'
        ? `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="slow.jpg"\r\n` +
          'Content-Type: image/jpeg\r\n\r\n'
        : '{"imageBase64":"';
    const contentType =
      kind === 'multipart' ? `multipart/form-data; boundary=${BOUNDARY}` : 'application/json';
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => (this.received += chunk));
    this.socket.on('error', () => undefined);
    this.closedAt = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closed = true;
        this.stop();
        resolve(performance.now());
      }),
    );
    this.socket.write(
      `POST /v1/similar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\n` +
        `Content-Length: 1000000\r\n\r\n${preamble}`,
    );
    this.timer = setInterval(() => {
      if (!this.socket.destroyed) this.socket.write('A');
    }, TRICKLE_EVERY_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  destroy(): void {
    this.stop();
    this.socket.destroy();
  }
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? NaN;
};

describe('slow uploads: trickling bodies hold no inference place and time out on their own budget', () => {
  const prefix = uniquePrefix('api-slow-uploads');
  const data = tempDir('api-slow-uploads');
  let indexer: ServiceProcess;
  let api: RunningApi;
  let shortApi: RunningApi;
  let client: ContractClient;
  let query: Buffer;
  const tricklers: Trickler[] = [];

  /** One normal upload (checked against the OpenAPI document), with its latency in ms. */
  async function timedUpload(target: ContractClient): Promise<{ status: number; ms: number }> {
    const started = performance.now();
    const reply = await target.searchByUpload(query, { k: '2' });
    return { status: reply.status, ms: performance.now() - started };
  }

  beforeAll(async () => {
    const images = await Promise.all([sceneJpeg(7), sceneJpeg(60), sceneJpeg(120)]);
    query = images[0] as Buffer;
    const env = (extra: Record<string, string>) =>
      apiEnv({
        redisUrl: sharedRedisUrl,
        prefix,
        dataDir: data.dir,
        extra: { RATE_LIMIT_MAX: '0', ...extra },
      });
    [indexer, api, shortApi] = await Promise.all([
      startIndexer(
        'indexer',
        indexerEnv({
          redisUrl: sharedRedisUrl,
          prefix,
          dataDir: data.dir,
          extra: { PUBLISH_DEBOUNCE_MS: '100' },
        }),
      ),
      // The default INFERENCE_QUEUE (16) with the one slot of apiEnv: 17 places, far fewer than 50
      // tricklers. Both budgets above the trickle, so the tricklers keep trickling.
      startApi('api', env({ UPLOAD_TIMEOUT_MS: '60000', REQUEST_TIMEOUT_MS: '120000' })),
      startApi('api-short', env({ UPLOAD_TIMEOUT_MS: String(SHORT_UPLOAD_TIMEOUT_MS) })),
    ]);
    client = new ContractClient(api.url);
    const accepted = await client.call('/v1/items', {
      method: 'POST',
      json: {
        items: images.map((image, i) => ({ id: `slow-${i}`, imageBase64: image.toString('base64') })),
      },
    });
    expect(accepted.status).toBe(202);
    const jobId = accepted.json<{ jobId: string }>().jobId;
    await pollUntil(
      async () => {
        const job = (await client.call(`/v1/jobs/${jobId}`)).json<JobBody>();
        if (job.state === 'failed') throw new Error(`job ${jobId} failed: ${job.failedReason}`);
        return job.state === 'completed' ? job : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: 'the upsert job to complete' },
    );
    for (const target of [api, shortApi]) {
      await pollUntil(async () => ((await fetch(`${target.url}/v1/index`)).ok ? true : undefined), {
        timeoutMs: 20_000,
        intervalMs: 100,
        description: `${target.process.name} to load the snapshot`,
      });
    }
  });

  afterAll(async () => {
    for (const trickler of tricklers) trickler.destroy();
    await api?.process.stop();
    await shortApi?.process.stop();
    await indexer?.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  test(`${TRICKLERS} clients trickling for ${TRICKLE_FOR_MS / 1000} s: normal uploads keep answering 200 within their latency band`, async () => {
    for (let i = 0; i < 3; i += 1) expect((await timedUpload(client)).status).toBe(200); // warm-up
    const baseline: number[] = [];
    for (let i = 0; i < 15; i += 1) {
      const { status, ms } = await timedUpload(client);
      expect(status).toBe(200);
      baseline.push(ms);
    }

    for (let i = 0; i < TRICKLERS; i += 1)
      tricklers.push(new Trickler(api.port, i % 5 === 0 ? 'json' : 'multipart'));
    // Give every trickler time to be routed and start its body (a second is plenty on loopback).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(tricklers.filter((t) => t.closed || t.received !== '')).toHaveLength(0);

    const during: number[] = [];
    const statuses = new Map<number, number>();
    const until = performance.now() + TRICKLE_FOR_MS;
    while (performance.now() < until) {
      const { status, ms } = await timedUpload(client);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      during.push(ms);
    }
    const metrics = (await client.call('/metrics')).body;

    const band = 5 * percentile(baseline, 0.5) + 200;
    const figures = {
      baseline: { n: baseline.length, p50: percentile(baseline, 0.5), max: Math.max(...baseline) },
      during: {
        n: during.length,
        p50: percentile(during, 0.5),
        p99: percentile(during, 0.99),
        max: Math.max(...during),
      },
      band,
      statuses: Object.fromEntries(statuses),
    };
    process.stdout.write(`slow uploads: ${JSON.stringify(figures)}\n`);

    expect(Object.fromEntries(statuses)).toEqual({ 200: during.length });
    expect(during.length).toBeGreaterThan(10);
    expect(figures.during.p50).toBeLessThanOrEqual(band);
    expect(figures.during.p99).toBeLessThanOrEqual(band);
    // One of ~2,000 uploads may meet a GC pause or a scheduler hiccup on a shared 2-core machine; what
    // starvation looks like is 503s (asserted above) or waits of seconds, never a single short stall.
    expect(figures.during.max).toBeLessThanOrEqual(band + 1000);
    // The tricklers were still sending all along: not answered, not cut off, and never admitted.
    expect(tricklers.filter((t) => t.closed || t.received !== '')).toHaveLength(0);
    expect(metrics).toMatch(/lookalike_inference_rejected_total 0\b/);
    for (const trickler of tricklers.splice(0)) trickler.destroy();
  });

  test.each(['multipart', 'json'] as const)(
    'a %s body slower than UPLOAD_TIMEOUT_MS: 408 UPLOAD_TIMEOUT problem+json, connection closed',
    async (kind) => {
      const started = performance.now();
      const trickler = new Trickler(shortApi.port, kind);
      tricklers.push(trickler);
      let timer: NodeJS.Timeout | undefined;
      const closedAt = await Promise.race([
        trickler.closedAt,
        new Promise<number>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`not closed: ${trickler.received}`)), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      const elapsed = closedAt - started;
      const [head = '', body = ''] = trickler.received.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 408 /);
      expect(head).toMatch(/content-type: application\/problem\+json/i);
      expect(head).toMatch(/connection: close/i);
      expect(JSON.parse(body) as ProblemBody).toMatchObject({ status: 408, code: 'UPLOAD_TIMEOUT' });
      expect(elapsed).toBeGreaterThanOrEqual(SHORT_UPLOAD_TIMEOUT_MS - 100);
      expect(elapsed).toBeLessThan(SHORT_UPLOAD_TIMEOUT_MS + 3000);
      // The same server keeps answering normal uploads.
      expect((await timedUpload(new ContractClient(shortApi.url))).status).toBe(200);
    },
  );
});
