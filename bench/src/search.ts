import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { IndexFlatIP, setThreading } from 'faiss-node';
import {
  FAISS_THREADING,
  SnapshotReader,
  SnapshotWriter,
  type ItemInput,
  type Snapshot,
} from '@lookalike/index-store';
import {
  defaultModelIdentity,
  findSklearnPython,
  percentile,
  randomUnitVectors,
  round,
  startApi,
  type ApiProcess,
} from './common';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Search latency at 10k / 50k / 200k items (quick: 10k / 50k) of synthetic unit vectors of the default
 * model's dimension, every method on the same vectors and queries, single queries interleaved so a busy
 * machine slows them alike:
 *  - bare faiss-node IndexFlatIP (the lower bound), with faiss's default threading and with the
 *    threading index-store sets (one OpenMP thread, BLAS from the first query);
 *  - index-store's Snapshot (what the API calls), plain, by id, filtered, collapsed;
 *  - the API itself: GET /v1/items/:id/similar over loopback HTTP against a real API process serving
 *    the same snapshot (route, validation, serialisation, HTTP included);
 *  - the seed project's method: sklearn NearestNeighbors(algorithm='brute') refitted on every query,
 *    in a python3 peer process, when scikit-learn is installed.
 * Also batched bare throughput and snapshot publish / load times with their longest event-loop stall.
 */

const K = 10;
const BATCH = 32;
/** The approximate index the API is also measured with (from 50k items; recall: see the scale suite). */
const IVF_FACTORY = 'IVF256,Flat';
const IVF_NPROBE = 16;
const FAISS_DEFAULT_THREADING = {
  ompThreads: os.availableParallelism(),
  blasThreshold: 20,
  blasThreads: os.availableParallelism(),
};

function bareIndex(vectors: Float32Array, dimension: number): IndexFlatIP {
  // Chunked Float32Array adds (the lookalike faiss-node patch reads them in place, no JS arrays).
  const index = new IndexFlatIP(dimension);
  const chunk = 8192 * dimension;
  for (let offset = 0; offset < vectors.length; offset += chunk)
    index.add(vectors.subarray(offset, Math.min(vectors.length, offset + chunk)));
  return index;
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
  /** One core reading the vectors' bytes once (memchr over a buffer of the same size), median ms. */
  memoryFloorMs: number;
  sklearn: { p50: number; p99: number; samples: number[] } | { skipped: string };
}

/**
 * The floor of any exact scan: the time one core needs just to read `bytes` from memory, measured
 * with memchr (Buffer.indexOf of a byte that is not there; glibc's SIMD memchr streams at the memory
 * bandwidth). Past the caches the rate is constant, so at most 256 MB are read and the time scaled.
 * The buffer is written first so its pages are real memory, not the shared zero page.
 */
function memoryReadFloorMs(bytes: number): number {
  const measured = Math.min(bytes, 256 * 2 ** 20);
  const buffer = Buffer.allocUnsafe(measured).fill(7);
  const samples: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    if (buffer.indexOf(1) !== -1) throw new Error('bench: memchr found a byte that is not there');
    samples.push(performance.now() - t0);
  }
  return percentile(samples, 50) * (bytes / measured);
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

/** Method names, also used to pick the baselines and the target rows. */
export const METHOD = {
  bareVector: 'bare faiss search (vector)',
  bareVectorDefault: "bare faiss search, faiss's default threading",
  bareById: 'bare faiss by id (k+1, drop self)',
  snapshotSearch: 'Snapshot.search',
  snapshotById: 'Snapshot.searchById',
  apiById: 'API GET /v1/items/:id/similar (HTTP, real process)',
  apiByIdIvf: `API by id, INDEX_FACTORY=${IVF_FACTORY} nprobe=${IVF_NPROBE} (approximate)`,
} as const;

async function benchSize(
  items: number,
  queriesPerMethod: number,
  sklearnQueries: number,
  python: { python: string } | { skipped: string },
  context: BenchContext,
): Promise<SizeResult> {
  const model = defaultModelIdentity();
  const dimension = model.dimension;
  context.log(`search: generating ${items} × ${dimension} vectors`);
  const vectors = randomUnitVectors(items, dimension, 0x5eed + items);
  const queries = randomUnitVectors(queriesPerMethod, dimension, 0xbeef);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-search-'));
  const ivfDataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-search-ivf-'));
  let api: ApiProcess | null = null;
  let ivfApi: ApiProcess | null = null;
  try {
    const upserts: ItemInput[] = new Array<ItemInput>(items);
    for (let i = 0; i < items; i++) {
      upserts[i] = {
        id: `item-${i}`,
        vector: vectors.subarray(i * dimension, (i + 1) * dimension),
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
    const writer = await SnapshotWriter.open({ dataDir, model });
    await writer.publish({ upserts, deletes: [] });
    const publishMs = performance.now() - started;
    const publishStallMs = stall.max / 1e6;
    await writer.close();
    stall.reset();
    started = performance.now();
    const reader = await SnapshotReader.open({ dataDir, expectedModel: model, pollIntervalMs: 60_000 });
    const loadMs = performance.now() - started;
    const loadStallMs = stall.max / 1e6;
    stall.disable();
    const snapshot = reader.current() as Snapshot;
    context.log(
      `search: ${items} items published in ${round(publishMs, 0)} ms, loaded in ${round(loadMs, 0)} ms`,
    );
    api = await startApi(context, dataDir, items);
    const apiUrl = api.url;
    context.log(`search: API serving ${items} items at ${apiUrl}`);
    if (items >= 50_000) {
      // The same items published with INDEX_FACTORY (the indexer's setting) and served by a second API.
      const ivfWriter = await SnapshotWriter.open({
        dataDir: ivfDataDir,
        model,
        indexFactory: IVF_FACTORY,
        searchParameters: { nprobe: IVF_NPROBE },
      });
      await ivfWriter.publish({ upserts, deletes: [] });
      await ivfWriter.close();
      ivfApi = await startApi(context, ivfDataDir, items);
    }
    const apiByIdOn = (url: string) => async (q: number) => {
      const response = await fetch(`${url}/v1/items/item-${anchor(q)}/similar?k=${K}`);
      const body = (await response.json()) as { results?: unknown[] };
      if (response.status !== 200 || body.results?.length !== K)
        throw new Error(`bench: API by-id answered ${response.status}`);
      return body;
    };

    const bare = bareIndex(vectors, dimension);
    const query = (q: number) => queries.subarray(q * dimension, (q + 1) * dimension);
    const anchor = (q: number) => (q * 7919) % items;
    const methods: Array<{ method: string; run: (q: number) => unknown }> = [
      { method: METHOD.bareVector, run: (q) => bare.search(query(q), K) },
      {
        method: METHOD.bareVectorDefault,
        run: (q) => {
          setThreading(FAISS_DEFAULT_THREADING);
          try {
            return bare.search(query(q), K);
          } finally {
            setThreading(FAISS_THREADING);
          }
        },
      },
      {
        method: METHOD.bareById,
        run: (q) => {
          const position = anchor(q);
          const result = bare.search(
            vectors.subarray(position * dimension, (position + 1) * dimension),
            K + 1,
          );
          return result.labels.filter((label) => label !== position).slice(0, K);
        },
      },
      { method: METHOD.snapshotSearch, run: (q) => snapshot.search(query(q), { k: K }) },
      { method: METHOD.snapshotById, run: (q) => snapshot.searchById(`item-${anchor(q)}`, { k: K }) },
      { method: METHOD.apiById, run: apiByIdOn(apiUrl) },
      ...(ivfApi ? [{ method: METHOD.apiByIdIvf, run: apiByIdOn(ivfApi.url) }] : []),
      {
        method: 'Snapshot.search, filter 0.1% (scan)',
        run: (q) => snapshot.search(query(q), { k: K, filter: { rare: 'yes' } }),
      },
      {
        method: 'Snapshot.search, filter 10% (scan)',
        run: (q) => snapshot.search(query(q), { k: K, filter: { tenth: 'yes' } }),
      },
      {
        method: 'Snapshot.search, filter 40% (FAISS over-fetch)',
        run: (q) => snapshot.search(query(q), { k: K, filter: { big: 'yes' } }),
      },
      {
        method: 'Snapshot.searchById, collapse 0.95',
        run: (q) => snapshot.searchById(`item-${anchor(q)}`, { k: K, collapse: 0.95 }),
      },
    ];
    // Warm-up, then rounds that rotate which method goes first.
    for (const m of methods) await m.run(0);
    const timings: MethodTiming[] = methods.map((m) => ({ method: m.method, samples: [] }));
    for (let q = 0; q < queriesPerMethod; q++) {
      for (let j = 0; j < methods.length; j++) {
        const index = (q + j) % methods.length;
        const t0 = performance.now();
        await (methods[index] as (typeof methods)[number]).run(q);
        (timings[index] as MethodTiming).samples.push(performance.now() - t0);
      }
    }

    const batch = queries.subarray(0, Math.min(BATCH, queriesPerMethod) * dimension);
    const batchQueries = batch.length / dimension;
    bare.search(batch, K);
    const batchRounds = 3;
    started = performance.now();
    for (let r = 0; r < batchRounds; r++) bare.search(batch, K);
    const batchQueriesPerSecond = (batchRounds * batchQueries * 1000) / (performance.now() - started);

    const memoryFloorMs = memoryReadFloorMs(vectors.byteLength);

    let sklearn: SizeResult['sklearn'] = 'skipped' in python ? python : { skipped: '' };
    if ('python' in python) {
      const file = path.join(dataDir, 'vectors.f32');
      writeFileSync(file, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
      const ids = Array.from({ length: sklearnQueries }, (_, q) => anchor(q));
      const run = spawnSync(
        python.python,
        ['-c', SKLEARN_SCRIPT, file, String(items), String(dimension), String(K), JSON.stringify(ids)],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      );
      if (run.status === 0) {
        const samples = JSON.parse(run.stdout) as number[];
        sklearn = { p50: percentile(samples, 50), p99: percentile(samples, 99), samples };
      } else sklearn = { skipped: `python3 failed: ${run.stderr.slice(0, 200)}` };
    }
    await reader.close();
    return {
      items,
      publishMs,
      publishStallMs,
      loadMs,
      loadStallMs,
      timings,
      batchQueriesPerSecond,
      memoryFloorMs,
      sklearn,
    };
  } finally {
    await api?.stop();
    await ivfApi?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(ivfDataDir, { recursive: true, force: true });
  }
}

export const searchSuite: BenchSuite = {
  name: 'search',
  async run(context: BenchContext) {
    // Queries per method shrink with size so the suite stays within its share of the time budget.
    const plan: Array<[items: number, queries: number]> = context.quick
      ? [
          [10_000, 30],
          [50_000, 20],
        ]
      : [
          [10_000, 100],
          [50_000, 60],
          [200_000, 20],
        ];
    const sklearnQueries = context.quick ? 5 : 10;
    const python = findSklearnPython(context);
    const results: SizeResult[] = [];
    for (const [items, queries] of plan)
      results.push(await benchSize(items, queries, sklearnQueries, python, context));

    const p50 = (result: SizeResult, method: string) =>
      percentile(result.timings.find((t) => t.method === method)?.samples ?? [], 50);
    const rows: Array<Array<string | number>> = [];
    const targets: Array<Array<string | number>> = [];
    for (const result of results) {
      const bareVector = p50(result, METHOD.bareVector);
      const bareById = p50(result, METHOD.bareById);
      for (const timing of result.timings) {
        const median = percentile(timing.samples, 50);
        const byId = /ById|by id|\/:id\//.test(timing.method);
        rows.push([
          result.items,
          timing.method,
          round(median),
          round(percentile(timing.samples, 99)),
          round(1000 / median, 1),
          `${round(median / (byId ? bareById : bareVector))}×`,
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
      const apiById = p50(result, METHOD.apiById);
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
      const vsSeed = 'skipped' in result.sklearn ? NaN : result.sklearn.p50 / apiById;
      const apiByIdIvf = p50(result, METHOD.apiByIdIvf);
      const ivfVsSeed = 'skipped' in result.sklearn ? NaN : result.sklearn.p50 / apiByIdIvf;
      targets.push([
        result.items,
        `${round(apiById / bareById)}× (${round(apiById)} / ${round(bareById)} ms)`,
        result.items === 50_000 ? (apiById / bareById <= 1.2 ? 'met (≤ 1.2×)' : 'gap (> 1.2×)') : '',
        Number.isFinite(vsSeed) ? `${round(vsSeed, 1)}× faster` : 'skipped',
        Number.isFinite(vsSeed) ? (vsSeed >= 10 ? 'met (≥ 10×)' : 'gap (< 10×)') : '',
        Number.isFinite(ivfVsSeed)
          ? `${round(ivfVsSeed, 1)}× faster (${round(apiByIdIvf)} ms) — ${ivfVsSeed >= 10 ? 'met' : 'gap'}`
          : '',
        `${round(p50(result, METHOD.bareVectorDefault) / bareVector)}×`,
      ]);
    }
    const latency: BenchTable = {
      title: `Search latency, d=${defaultModelIdentity().dimension}, k=${K} (single queries)`,
      columns: ['items', 'method', 'p50 ms', 'p99 ms', 'queries/s', 'p50 vs bare'],
      rows,
      notes: [
        `${plan.map(([n, q]) => `${q} queries per method at ${n / 1000}k`).join(', ')}; methods interleaved. ` +
          'By-id rows compare with bare by-id, the rest with bare vector search.',
        'Bare faiss and Snapshot run with index-store’s threading (1 OpenMP + 1 OpenBLAS thread, BLAS from the first ' +
          "query); the “default threading” row switches to faiss's defaults (threads = cores, BLAS from 20 queries) for each query.",
        'The API row is measured by this process over loopback HTTP (fetch, keep-alive) against a separate API process.',
        `The INDEX_FACTORY row: the same items published with INDEX_FACTORY=${IVF_FACTORY} and INDEX_SEARCH_PARAMS=nprobe=${IVF_NPROBE}, ` +
          'served by a second API process; on these unstructured random vectors its recall is poor (the scale suite measures recall on clustered vectors).',
        'Synthetic L2-normalised vectors; filters matching 0.1% / 10% / 40% of the items.',
      ],
    };
    const targetTable: BenchTable = {
      title: 'Search targets: API by id vs bare faiss, and vs the seed’s method',
      columns: [
        'items',
        'API by-id p50 / bare by-id p50',
        'target ≤ 1.2× at 50k',
        'vs sklearn refit-per-query',
        'target ≥ 10×',
        `API with INDEX_FACTORY=${IVF_FACTORY} vs sklearn`,
        "faiss default threading / index-store's",
      ],
      rows: targets,
    };
    const profile: BenchTable = {
      title: 'Where an exact query’s time goes: reading the vectors once is the floor',
      columns: [
        'items',
        'MB read per query',
        'memory read floor ms (memchr, 1 core)',
        'bare faiss p50 ms',
        'faiss / floor',
        'sklearn p50 ms',
        'sklearn / floor = the most any exact scan can beat it by',
      ],
      rows: results.map((r) => {
        const bare = p50(r, METHOD.bareVector);
        const sk = 'skipped' in r.sklearn ? NaN : r.sklearn.p50;
        return [
          r.items,
          round((r.items * defaultModelIdentity().dimension * 4) / 1e6, 0),
          round(r.memoryFloorMs),
          round(bare),
          `${round(bare / r.memoryFloorMs)}×`,
          Number.isFinite(sk) ? round(sk) : 'skipped',
          Number.isFinite(sk) ? `${round(sk / r.memoryFloorMs, 1)}×` : '',
        ];
      }),
      notes: [
        'A flat inner-product query multiplies every stored float once: it must read all of them, so no exact ' +
          'method on this machine can answer faster than memory delivers the bytes. faiss runs at a small multiple ' +
          'of that floor; the seed’s sklearn refit reads the matrix several times (validation, norms, the product).',
      ],
    };
    const snapshots: BenchTable = {
      title: 'Snapshot publish and load (index-store)',
      columns: [
        'items',
        'publish ms (build, write, fsync, switch)',
        'longest event-loop stall ms',
        'reader load ms (read, verify sha256)',
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
      memoryFloorMs: r.memoryFloorMs,
      sklearn: r.sklearn,
      timings: r.timings.map((t) => ({
        method: t.method,
        p50: percentile(t.samples, 50),
        p99: percentile(t.samples, 99),
        samples: t.samples,
      })),
    }));
    return { tables: [targetTable, latency, profile, snapshots], raw };
  },
};
