import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { IndexFlatIP } from 'faiss-node';
import { SnapshotReader, SnapshotWriter, type ItemInput, type Snapshot } from '@lookalike/index-store';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Search latency of the index-store against bare faiss-node on the same vectors: synthetic unit
 * vectors (d = 1280, the default model's dimension) at 10k / 50k / 200k items (quick: 10k / 50k).
 * Single queries alternate between the methods so a busy machine slows them alike. Also: batched bare
 * FAISS throughput, filtered searches (a rare value → exact scan, a common one → FAISS over-fetch),
 * snapshot publish and load times, and the seed project's method — sklearn NearestNeighbors(brute)
 * refitted on every query — when python3 with scikit-learn is installed.
 */

const DIMENSION = 1280;
const K = 10;
const BATCH = 32;
const MODEL = { id: 'bench-synthetic', sha256: '0'.repeat(64), dimension: DIMENSION };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** xorshift32: fast, deterministic; uniform components then L2-normalised are fine for timing. */
function randomUnitVectors(count: number, seed: number): Float32Array {
  const vectors = new Float32Array(count * DIMENSION);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    const offset = i * DIMENSION;
    let norm = 0;
    for (let j = 0; j < DIMENSION; j++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const value = (state >>> 0) / 2147483648 - 1;
      vectors[offset + j] = value;
      norm += value * value;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let j = 0; j < DIMENSION; j++) vectors[offset + j] = (vectors[offset + j] as number) * scale;
  }
  return vectors;
}

function bareIndex(vectors: Float32Array): IndexFlatIP {
  // Through FAISS's own reader: adding 64M floats through faiss-node's add() (a JS array) takes minutes.
  const count = vectors.length / DIMENSION;
  const header = Buffer.alloc(45);
  header.write('IxFI', 0, 'latin1');
  header.writeInt32LE(DIMENSION, 4);
  header.writeBigInt64LE(BigInt(count), 8);
  header.writeBigInt64LE(1n << 20n, 16);
  header.writeBigInt64LE(1n << 20n, 24);
  header.writeUInt8(1, 32);
  header.writeInt32LE(0, 33);
  header.writeBigUInt64LE(BigInt(count * DIMENSION), 37);
  return IndexFlatIP.fromBuffer(
    Buffer.concat([header, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength)]),
  );
}

interface MethodTiming {
  method: string;
  samples: number[];
}

interface SizeResult {
  items: number;
  publishMs: number;
  publishStallMs: number;
  loadMs: number;
  loadStallMs: number;
  timings: MethodTiming[];
  batchQueriesPerSecond: number;
  sklearn: { p50: number; p99: number; samples: number[] } | { skipped: string };
}

function sklearnAvailable(): string | null {
  const probe = spawnSync('python3', ['-c', 'import sklearn, numpy; print(sklearn.__version__)'], {
    encoding: 'utf8',
  });
  if (probe.error) return `python3 not runnable (${probe.error.message})`;
  if (probe.status !== 0) return 'python3 has no scikit-learn (Debian: python3-sklearn)';
  return null;
}

const SKLEARN_SCRIPT = `
import json, sys, time
import numpy as np
from sklearn.neighbors import NearestNeighbors
path, n, d, k, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
X = np.fromfile(path, dtype='<f4').reshape(n, d)
times = []
for q in queries:
    t0 = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm='brute').fit(X)
    nn.kneighbors(X[q:q + 1])
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps(times))
`;

async function benchSize(
  items: number,
  queriesPerMethod: number,
  sklearnQueries: number,
  sklearnSkip: string | null,
  context: BenchContext,
): Promise<SizeResult> {
  context.log(`search: generating ${items} × ${DIMENSION} vectors`);
  const vectors = randomUnitVectors(items, 0x5eed + items);
  const queries = randomUnitVectors(queriesPerMethod, 0xbeef);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-search-'));
  try {
    const upserts: ItemInput[] = new Array(items);
    for (let i = 0; i < items; i++) {
      upserts[i] = {
        id: `item-${i}`,
        vector: vectors.subarray(i * DIMENSION, (i + 1) * DIMENSION),
        // Filter subsets of 0.1% and 10% are scored by an exact scan, 40% by FAISS over-fetch.
        metadata: {
          rare: i % 1000 === 7 ? 'yes' : 'no',
          tenth: i % 10 === 3 ? 'yes' : 'no',
          big: i % 5 < 2 ? 'yes' : 'no',
        },
        contentHash: String(i),
      };
    }
    // The longest the event loop was blocked during publish / load (what an API request would wait).
    const stall = monitorEventLoopDelay({ resolution: 5 });
    stall.enable();
    let started = performance.now();
    const writer = await SnapshotWriter.open({ dataDir, model: MODEL });
    await writer.publish({ upserts, deletes: [] });
    const publishMs = performance.now() - started;
    const publishStallMs = stall.max / 1e6;
    await writer.close();
    stall.reset();
    started = performance.now();
    const reader = await SnapshotReader.open({ dataDir, expectedModel: MODEL, pollIntervalMs: 60_000 });
    const loadMs = performance.now() - started;
    const loadStallMs = stall.max / 1e6;
    stall.disable();
    const snapshot = reader.current() as Snapshot;
    context.log(
      `search: ${items} items published in ${round(publishMs, 0)} ms, loaded in ${round(loadMs, 0)} ms`,
    );

    const bare = bareIndex(vectors);
    const methods: Array<{ method: string; run: (q: number) => void }> = [
      {
        method: 'bare faiss search (vector)',
        run: (q) => bare.search(Array.from(queries.subarray(q * DIMENSION, (q + 1) * DIMENSION)), K),
      },
      {
        method: 'bare faiss by id (k+1, drop self)',
        run: (q) => {
          const position = (q * 7919) % items;
          const result = bare.search(
            Array.from(vectors.subarray(position * DIMENSION, (position + 1) * DIMENSION)),
            K + 1,
          );
          result.labels.filter((label) => label !== position).slice(0, K);
        },
      },
      {
        method: 'Snapshot.search',
        run: (q) => snapshot.search(queries.subarray(q * DIMENSION, (q + 1) * DIMENSION), { k: K }),
      },
      {
        method: 'Snapshot.searchById',
        run: (q) => snapshot.searchById(`item-${(q * 7919) % items}`, { k: K }),
      },
      {
        method: 'Snapshot.search, filter 0.1% (scan)',
        run: (q) =>
          snapshot.search(queries.subarray(q * DIMENSION, (q + 1) * DIMENSION), {
            k: K,
            filter: { rare: 'yes' },
          }),
      },
      {
        method: 'Snapshot.search, filter 10% (scan)',
        run: (q) =>
          snapshot.search(queries.subarray(q * DIMENSION, (q + 1) * DIMENSION), {
            k: K,
            filter: { tenth: 'yes' },
          }),
      },
      {
        method: 'Snapshot.search, filter 40% (FAISS over-fetch)',
        run: (q) =>
          snapshot.search(queries.subarray(q * DIMENSION, (q + 1) * DIMENSION), {
            k: K,
            filter: { big: 'yes' },
          }),
      },
      {
        method: 'Snapshot.searchById, collapse 0.95',
        run: (q) => snapshot.searchById(`item-${(q * 7919) % items}`, { k: K, collapse: 0.95 }),
      },
    ];
    // Warm-up, then rounds that rotate which method goes first.
    for (const m of methods) m.run(0);
    const timings: MethodTiming[] = methods.map((m) => ({ method: m.method, samples: [] }));
    for (let q = 0; q < queriesPerMethod; q++) {
      for (let j = 0; j < methods.length; j++) {
        const index = (q + j) % methods.length;
        const t0 = performance.now();
        (methods[index] as (typeof methods)[number]).run(q);
        (timings[index] as MethodTiming).samples.push(performance.now() - t0);
      }
    }

    const batch = Array.from(queries.subarray(0, Math.min(BATCH, queriesPerMethod) * DIMENSION));
    const batchQueries = batch.length / DIMENSION;
    bare.search(batch, K);
    const batchRounds = 3;
    started = performance.now();
    for (let r = 0; r < batchRounds; r++) bare.search(batch, K);
    const batchQueriesPerSecond = (batchRounds * batchQueries * 1000) / (performance.now() - started);

    let sklearn: SizeResult['sklearn'] = { skipped: sklearnSkip ?? '' };
    if (!sklearnSkip) {
      const file = path.join(dataDir, 'vectors.f32');
      writeFileSync(file, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
      const ids = Array.from({ length: sklearnQueries }, (_, q) => (q * 7919) % items);
      const run = spawnSync(
        'python3',
        ['-c', SKLEARN_SCRIPT, file, String(items), String(DIMENSION), String(K), JSON.stringify(ids)],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      );
      if (run.status === 0) {
        const samples = JSON.parse(run.stdout) as number[];
        sklearn = { p50: percentile(samples, 50), p99: percentile(samples, 99), samples };
      } else sklearn = { skipped: `python3 failed: ${run.stderr.slice(0, 200)}` };
    }
    await reader.close();
    return { items, publishMs, publishStallMs, loadMs, loadStallMs, timings, batchQueriesPerSecond, sklearn };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const searchSuite: BenchSuite = {
  name: 'search',
  async run(context: BenchContext) {
    const sizes = context.quick ? [10_000, 50_000] : [10_000, 50_000, 200_000];
    const queriesPerMethod = context.quick ? 30 : 100;
    const sklearnQueries = context.quick ? 5 : 10;
    const sklearnSkip = sklearnAvailable();
    const results: SizeResult[] = [];
    for (const items of sizes)
      results.push(await benchSize(items, queriesPerMethod, sklearnQueries, sklearnSkip, context));

    const rows: Array<Array<string | number>> = [];
    for (const result of results) {
      const bareVector = percentile(result.timings[0]?.samples ?? [], 50);
      const bareById = percentile(result.timings[1]?.samples ?? [], 50);
      for (const timing of result.timings) {
        const p50 = percentile(timing.samples, 50);
        const baseline =
          timing.method.includes('ById') || timing.method.includes('by id') ? bareById : bareVector;
        rows.push([
          result.items,
          timing.method,
          round(p50),
          round(percentile(timing.samples, 99)),
          round(1000 / p50, 1),
          `${round(p50 / baseline)}×`,
        ]);
      }
      rows.push([
        result.items,
        `bare faiss batched (${BATCH} per call)`,
        '',
        '',
        round(result.batchQueriesPerSecond, 1),
        '',
      ]);
      if ('skipped' in result.sklearn)
        rows.push([
          result.items,
          'sklearn brute, refit per query (seed)',
          'skipped',
          '',
          '',
          result.sklearn.skipped,
        ]);
      else
        rows.push([
          result.items,
          'sklearn brute, refit per query (seed)',
          round(result.sklearn.p50),
          round(result.sklearn.p99),
          round(1000 / result.sklearn.p50, 1),
          `${round(result.sklearn.p50 / bareById)}×`,
        ]);
    }
    const latency: BenchTable = {
      title: `Search latency, d=${DIMENSION}, k=${K} (single queries, one thread of the event loop)`,
      columns: ['items', 'method', 'p50 ms', 'p99 ms', 'queries/s', 'p50 vs bare'],
      rows,
      notes: [
        `${queriesPerMethod} queries per method, methods interleaved; by-id rows compare with bare by-id, the rest with bare vector search.`,
        'Synthetic L2-normalised vectors; filters matching 0.1% / 10% / 40% of the items.',
      ],
    };
    const snapshots: BenchTable = {
      title: 'Snapshot publish and load (index-store)',
      columns: [
        'items',
        'publish ms (build, write, fsync, switch)',
        'longest event-loop stall ms',
        'reader load ms (read, verify sha256, FAISS)',
        'longest event-loop stall ms',
      ],
      rows: results.map((r) => [
        r.items,
        round(r.publishMs, 0),
        round(r.publishStallMs, 0),
        round(r.loadMs, 0),
        round(r.loadStallMs, 0),
      ]),
    };
    const raw = results.map((r) => ({
      items: r.items,
      publishMs: r.publishMs,
      publishStallMs: r.publishStallMs,
      loadMs: r.loadMs,
      loadStallMs: r.loadStallMs,
      batchQueriesPerSecond: r.batchQueriesPerSecond,
      sklearn: r.sklearn,
      timings: r.timings.map((t) => ({
        method: t.method,
        p50: percentile(t.samples, 50),
        p99: percentile(t.samples, 99),
        samples: t.samples,
      })),
    }));
    return { tables: [latency, snapshots], raw };
  },
};
