import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { IndexFlatIP } from 'faiss-node';
import { SnapshotWriter } from '@lookalike/index-store';
import { bareTensor, createBareRunner, releaseBareRunner } from './bare';
import {
  defaultModelIdentity,
  median,
  randomUnitVectors,
  round,
  rssMiB,
  startApi,
  syntheticItems,
} from './common';
import { byIdRequests, runLoad, samplePhotos, uploadRequests, type LoadResult } from './load';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * End-to-end HTTP under load: a real API process (built services/api, default settings except rate
 * limiting off and an inference queue deep enough for 32 callers) serving a synthetic 50k-item
 * snapshot of the default model's dimension, loaded over loopback by autocannon with 1 / 8 / 32
 * connections, each run bounded in time: query by id (no inference) and photo upload (multipart →
 * decode → embed → search). The upload target compares with the bare lower bound measured in this
 * process on the same photos and vectors: sharp decode + crop → session.run → faiss search.
 */

const ITEMS = 50_000;
const CONCURRENCY = [1, 8, 32];
const K = 10;

interface BarePhases {
  decodeMs: number[];
  embedMs: number[];
  searchMs: number[];
  totalMs: number[];
}

interface BarePipeline {
  /** Runs one photo through decode → embed → search; `record` false for warm-ups. */
  run(image: Buffer, record: boolean): Promise<void>;
  phases: BarePhases;
  close(): Promise<void>;
}

async function barePipeline(
  context: BenchContext,
  vectors: Float32Array,
  dimension: number,
): Promise<BarePipeline> {
  const runner = await createBareRunner(context, 1);
  const session = runner.sessions[0] as ort.InferenceSession;
  const { model } = runner;
  const index = new IndexFlatIP(dimension);
  for (let offset = 0; offset < vectors.length; offset += 8192 * dimension)
    index.add(vectors.subarray(offset, Math.min(vectors.length, offset + 8192 * dimension)));
  const size = model.inputSize;
  const phases: BarePhases = { decodeMs: [], embedMs: [], searchMs: [], totalMs: [] };
  return {
    phases,
    close: () => releaseBareRunner(runner),
    async run(image: Buffer, record: boolean): Promise<void> {
      const t0 = performance.now();
      const tensor = await bareTensor(image, model);
      const t1 = performance.now();
      const output = await session.run(
        { [runner.inputName]: new ort.Tensor('float32', tensor, [1, 3, size, size]) },
        [runner.outputName],
      );
      const embedding = output[runner.outputName]?.data as Float32Array;
      const t2 = performance.now();
      index.search(embedding.subarray(0, dimension), K);
      const t3 = performance.now();
      if (!record) return;
      phases.decodeMs.push(t1 - t0);
      phases.embedMs.push(t2 - t1);
      phases.searchMs.push(t3 - t2);
      phases.totalMs.push(t3 - t0);
    },
  };
}

/** One upload through the API over HTTP (the same multipart body autocannon sends); ms. */
async function apiUpload(url: string, image: Buffer): Promise<number> {
  const [request] = uploadRequests([image], K);
  const t0 = performance.now();
  const response = await fetch(`${url}/v1/similar`, {
    method: 'POST',
    headers: request?.headers ?? {},
    body: request?.body as Buffer,
  });
  const body = (await response.json()) as { results?: unknown[] };
  const elapsed = performance.now() - t0;
  if (response.status !== 200 || body.results?.length !== K)
    throw new Error(`bench: API upload answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
  return elapsed;
}

export const httpSuite: BenchSuite = {
  name: 'http',
  async run(context: BenchContext) {
    const model = defaultModelIdentity();
    const { dimension } = model;
    const byIdSeconds = context.quick ? 20 : 30;
    const uploadSeconds = context.quick ? 20 : 30;
    const images = samplePhotos(context.sharedDir, context.quick ? 16 : 40);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-http-'));
    try {
      context.log(`http: writing a ${ITEMS}-item snapshot (d=${dimension}) with SnapshotWriter`);
      const vectors = randomUnitVectors(ITEMS, dimension, 0x5eed);
      const writer = await SnapshotWriter.open({ dataDir, model });
      await writer.publish({ upserts: syntheticItems(vectors, dimension), deletes: [] });
      await writer.close();

      const pipeline = await barePipeline(context, vectors, dimension);
      const api = await startApi(context, dataDir, ITEMS);
      const idleRss = rssMiB(api.pid);
      const byId: LoadResult[] = [];
      const upload: LoadResult[] = [];
      const apiSequential: number[] = [];
      try {
        // Warm both paths (first inference allocates the session's buffers).
        for (const image of images.slice(0, 3)) {
          await pipeline.run(image, false);
          await apiUpload(api.url, image);
        }
        // The target: one upload at a time, bare and API alternating photo by photo, so a busy
        // machine (other processes on 2 cores) slows both alike.
        context.log(`http: ${images.length * 2} uploads, bare pipeline and API alternating`);
        for (let round = 0; round < 2; round++) {
          for (const [i, image] of images.entries()) {
            if ((i + round) % 2 === 0) {
              await pipeline.run(image, true);
              apiSequential.push(await apiUpload(api.url, image));
            } else {
              apiSequential.push(await apiUpload(api.url, image));
              await pipeline.run(image, true);
            }
          }
        }
        for (const connections of CONCURRENCY) {
          // At most this many requests or seconds per run: deep queues need a count, not a time window.
          const amount = Math.max(2 * connections, 40);
          context.log(`http: by id, ${connections} connections, ${amount} requests`);
          byId.push(
            await runLoad(api.url, api.pid, byIdRequests(ITEMS, K), connections, byIdSeconds, amount),
          );
          context.log(`http: upload, ${connections} connections, ${amount} requests`);
          upload.push(
            await runLoad(api.url, api.pid, uploadRequests(images, K), connections, uploadSeconds, amount),
          );
        }
      } finally {
        await api.stop();
        await pipeline.close();
      }

      const bare = pipeline.phases;
      const bareTotal = median(bare.totalMs);
      const apiP50 = median(apiSequential);
      const ratio = apiP50 / bareTotal;
      const errors = [...byId, ...upload].reduce((sum, r) => sum + r.errors, 0);
      const row = (kind: string, r: LoadResult) => [
        kind,
        r.connections,
        r.requests,
        round(r.requestsPerSecond, 1),
        round(r.p50, 1),
        round(r.p99, 1),
        r.errors,
        round(r.rssMaxMiB, 0),
      ];
      const load: BenchTable = {
        title: `HTTP under load: real API process, ${ITEMS / 1000}k items, d=${dimension}, k=${K}, loopback`,
        columns: [
          'query',
          'connections',
          'requests',
          'req/s',
          'p50 ms',
          'p99 ms',
          'errors',
          'API RSS MiB (max)',
        ],
        rows: [
          ...byId.map((r) => row('by id (GET /v1/items/:id/similar)', r)),
          ...upload.map((r) => row('upload (POST /v1/similar, multipart JPEG)', r)),
        ],
        notes: [
          `autocannon, each run bounded by count (max(40, 2 × connections) requests) and time (${byIdSeconds} s by id, ${uploadSeconds} s upload); ${images.length} ` +
            `fashion-sample photos and 64 item ids cycled. API idle RSS with the snapshot loaded: ${round(idleRss, 0)} MiB.`,
          'API settings: defaults (2 inference sessions) except RATE_LIMIT_MAX=0 and INFERENCE_QUEUE=64 ' +
            '(the default queue of 16 answers 503 + Retry-After beyond 18 uploads in flight, by design).',
        ],
      };
      const target: BenchTable = {
        title: 'Upload latency vs the bare pipeline (1 connection)',
        columns: ['pipeline', 'p50 ms', 'decode ms', 'embed ms', 'search ms'],
        rows: [
          [
            'bare: sharp decode + crop → session.run → faiss search (in-process)',
            round(bareTotal, 1),
            round(median(bare.decodeMs), 1),
            round(median(bare.embedMs), 1),
            round(median(bare.searchMs), 1),
          ],
          [
            'API upload over HTTP (multipart, validation, Embedder, Snapshot.search, JSON)',
            round(apiP50, 1),
            '',
            '',
            '',
          ],
          [
            `ratio API / bare: ${round(ratio)}× — target ≤ 1.3×: ${ratio <= 1.3 ? 'met' : 'gap'}; errors in all runs: ${errors} — target 0: ${errors === 0 ? 'met' : 'gap'}`,
            '',
            '',
            '',
            '',
          ],
        ],
      };
      return {
        tables: [target, load],
        raw: {
          items: ITEMS,
          dimension,
          idleRssMiB: idleRss,
          bare,
          apiSequential,
          byId,
          upload,
          uploadRatio: ratio,
          errors,
        },
      };
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};
