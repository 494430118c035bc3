/**
 * Searches and events leave no per-request garbage in the API's old generation. Objects that outlive
 * the young generation are collected only by mark-compacts, whose pauses stop every query in flight:
 * that was most of what 10,000 events/s added to the query p99 (pnpm bench events). Two causes were
 * found and removed, each measured by what V8's scavenges promote (--trace-gc-nvp):
 *
 * - every hit of every by-id answer, ~1.2 KB per query at k = 10: hits were made as
 *   `{ ...hit, similarity }`, and on Node 20 such spread clones given a new property outlive the young
 *   generation (packages/ranking ranker.ts, rankedHit);
 * - ~400 bytes per POST /v1/events: piscina made a fresh worker-interface object for every task
 *   (patches/piscina@5.3.2.patch).
 *
 * Here the built API runs as a process with --trace-gc-nvp on a small synthetic snapshot and shared
 * Redis (own prefix); after a warm-up, by-id queries and event batches are sent and the bytes its
 * main thread's scavenges promote are counted per request: ~150 bytes now, ~1,250 before.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { SnapshotWriter } from '@lookalike/index-store';
import { modelRegistry } from '@lookalike/models';
import {
  apiEnv,
  deleteQueueKeys,
  killAllProcesses,
  pollUntil,
  sharedRedisUrl,
  startApi,
  tempDir,
  uniquePrefix,
  type RunningApi,
} from './support';

jest.setTimeout(180_000);

const ITEMS = 2_000;
/** Requests of the measured window: by-id queries, and one events POST (50 events) every 10th. */
const REQUESTS = 3_000;
/** Requests per second (the events bench's query rate, plus its POSTs), over CONNECTIONS connections. */
const RATE = 300;
const CONNECTIONS = 8;
/**
 * Bound on the main thread's promoted bytes per request (its median scavenge's, spread over the
 * window's requests). Measured: ~150 now (the sockets', parsers' and logger's own long-lived
 * allocations, among others); ~1,250 with the by-id hits made as spread clones.
 */
const MAX_PROMOTED_PER_REQUEST = 400;

/** Unit vectors, deterministic (xorshift32). */
function unitVectors(count: number, dimension: number): Float32Array {
  let state = 0x2545f491;
  const vectors = new Float32Array(count * dimension);
  for (let i = 0; i < count; i++) {
    let norm = 0;
    for (let j = 0; j < dimension; j++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const value = (state >>> 0) / 2 ** 32 - 0.5;
      vectors[i * dimension + j] = value;
      norm += value * value;
    }
    for (let j = 0; j < dimension; j++)
      vectors[i * dimension + j] = (vectors[i * dimension + j] as number) / Math.sqrt(norm);
  }
  return vectors;
}

function eventBatch(size: number): string {
  const now = new Date().toISOString();
  const events = Array.from({ length: size }, (_, i) => ({
    eventId: `${randomBytes(8).toString('hex')}-${i}`,
    type: i % 5 === 0 ? 'click' : 'impression',
    itemId: `item-${(i * 37) % ITEMS}`,
    context: { sourceItemId: `item-${i % ITEMS}` },
    position: i % 10,
    timestamp: now,
    sessionId: 's_old_generation_test',
  }));
  return JSON.stringify({ events });
}

describe('the API keeps per-request garbage young', () => {
  const prefix = uniquePrefix('api-old-gen');
  const data = tempDir('api-old-gen');
  let api: RunningApi;

  beforeAll(async () => {
    const entry = modelRegistry.resolve(modelRegistry.defaultModel);
    const model = { id: entry.name, sha256: entry.sha256, dimension: entry.dimension };
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model });
    const vectors = unitVectors(ITEMS, model.dimension);
    await writer.publish({
      upserts: Array.from({ length: ITEMS }, (_, i) => ({
        id: `item-${i}`,
        vector: vectors.subarray(i * model.dimension, (i + 1) * model.dimension),
        metadata: { articleType: `type-${i % 20}`, baseColour: `colour-${i % 7}` },
        contentHash: `synthetic-${i}`,
      })),
      deletes: [],
    });
    await writer.close();
    api = await startApi(
      'api',
      apiEnv({
        redisUrl: sharedRedisUrl,
        prefix,
        dataDir: data.dir,
        extra: { RATE_LIMIT_MAX: '0', EVENTS_RATE_LIMIT_MAX: '0' },
      }),
      ['--trace-gc-nvp'],
    );
    await pollUntil(async () => ((await fetch(`${api.url}/readyz`)).status === 200 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 100,
      description: 'the API to serve the snapshot',
    });
  });

  afterAll(async () => {
    await api?.process.stop();
    await killAllProcesses();
    await deleteQueueKeys(sharedRedisUrl, prefix);
    data.remove();
  });

  /**
   * A few keep-alive connections, as a shop's servers or a proxy hold them. (A pool that opens a
   * connection whenever the others are busy leaves idle sockets each holding its last request, which
   * the scavenges then promote: a client's habit, not the API's garbage.)
   */
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  afterAll(() => agent.destroy());
  const request = (method: string, path: string, body?: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${api.url}${path}`,
        { method, agent, headers: body ? { 'content-type': 'application/json' } : {} },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  /**
   * `count` requests, paced at RATE per second (each sent at its due time, whatever the answers
   * before it), as traffic arrives: a closed loop would saturate both cores, starve the ingest thread
   * (nice 19) and keep its batches waiting, alive, across scavenges. Every answer must be a success.
   */
  const load = async (count: number) => {
    const batch = eventBatch(50);
    const failures: string[] = [];
    const inFlight = new Set<Promise<void>>();
    const send = async (i: number) => {
      const status =
        i % 10 === 9
          ? // Fresh ids: each batch is validated, deduplicated and appended, never a replay.
            await request(
              'POST',
              '/v1/events',
              batch.replace(/"eventId":"([0-9a-f]+)-/g, `"eventId":"$1${i}-`),
            )
          : await request('GET', `/v1/items/item-${(i * 7919) % ITEMS}/similar?k=10`);
      if (status >= 300 && failures.length < 5) failures.push(`${i}: ${status}`);
    };
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const wait = start + (i * 1000) / RATE - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const request: Promise<void> = send(i).finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    await Promise.all(inFlight);
    expect(failures).toEqual([]);
  };

  it(`promotes under ${MAX_PROMOTED_PER_REQUEST} bytes per request of by-id queries and events`, async () => {
    await load(1_500); // JIT, caches, the stream's first allocations
    const from = api.process.logs.length;
    await load(REQUESTS);
    // One trace line per scavenge of each isolate. The main thread's is the first the process wrote
    // (it loads every module before any worker thread starts); its pauses are the ones that stop
    // searches. The ingest thread's own first scavenges promote its start-up (module sources).
    const trace = (line: { msg?: string }) =>
      /^\[\d+:(0x[0-9a-f]+)\]\s+\d+ ms: .* gc=(\w+) .*? promoted=(\d+)/.exec(String(line.msg ?? ''));
    const main = api.process.logs.map(trace).find((match) => match !== null)?.[1];
    expect(main).toBeDefined();
    const promotedByScavenge = api.process.logs
      .slice(from)
      .map(trace)
      .filter((match): match is RegExpExecArray => match !== null && match[1] === main && match[2] === 's')
      .map((match) => Number(match[3]));
    expect(promotedByScavenge.length).toBeGreaterThanOrEqual(4);
    // The median scavenge times their number: a one-off (a cache or a pool growing once) is not
    // per-request garbage.
    const sorted = [...promotedByScavenge].sort((a, b) => a - b);
    const promoted = (sorted[Math.floor(sorted.length / 2)] as number) * sorted.length;
    expect(Math.round(promoted / REQUESTS)).toBeLessThan(MAX_PROMOTED_PER_REQUEST);
  });
});
