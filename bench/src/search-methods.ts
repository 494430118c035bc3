import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IndexFlatIP } from 'faiss-node';
import type { ItemInput } from '@lookalike/index-store';
import { percentile } from './common';

// What the search suite measures, and how: its constants, the bare baseline, the seed's method, the
// result shapes. search-size.ts runs one size with them; search-report.ts turns results into tables.

export const K = 10;
export const BATCH = 32;
/** The approximate index the API is also measured with (from 50k items; recall: see the scale suite). */
export const IVF_FACTORY = 'IVF256,Flat';
export const IVF_NPROBE = 16;
export const FAISS_DEFAULT_THREADING = {
  ompThreads: os.availableParallelism(),
  blasThreshold: 20,
  blasThreads: os.availableParallelism(),
};

export function bareIndex(vectors: Float32Array, dimension: number): IndexFlatIP {
  // Chunked Float32Array adds (the lookalike faiss-node patch reads them in place, no JS arrays).
  const index = new IndexFlatIP(dimension);
  const chunk = 8192 * dimension;
  for (let offset = 0; offset < vectors.length; offset += chunk)
    index.add(vectors.subarray(offset, Math.min(vectors.length, offset + chunk)));
  return index;
}

export interface MethodTiming {
  method: string;
  samples: number[];
}

export interface SizeResult {
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
export function memoryReadFloorMs(bytes: number): number {
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

/** The suite's items: filter subsets of 0.1% and 10% are scored by an exact scan, 40% by FAISS over-fetch. */
export function searchItems(vectors: Float32Array, items: number, dimension: number): ItemInput[] {
  const upserts: ItemInput[] = new Array<ItemInput>(items);
  for (let i = 0; i < items; i++) {
    upserts[i] = {
      id: `item-${i}`,
      vector: vectors.subarray(i * dimension, (i + 1) * dimension),
      metadata: {
        rare: i % 1000 === 7 ? 'yes' : 'no',
        tenth: i % 10 === 3 ? 'yes' : 'no',
        big: i % 5 < 2 ? 'yes' : 'no',
      },
      contentHash: String(i),
    };
  }
  return upserts;
}

/** The seed project's method (sklearn brute force refitted per query) in a python3 peer, when there is one. */
export function runSklearn(
  python: { python: string } | { skipped: string },
  run: { dir: string; vectors: Float32Array; items: number; dimension: number; anchors: number[] },
): SizeResult['sklearn'] {
  if ('skipped' in python) return python;
  const { dir, vectors, items, dimension, anchors } = run;
  const file = path.join(dir, 'vectors.f32');
  writeFileSync(file, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
  const result = spawnSync(
    python.python,
    ['-c', SKLEARN_SCRIPT, file, String(items), String(dimension), String(K), JSON.stringify(anchors)],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  if (result.status !== 0) return { skipped: `python3 failed: ${result.stderr.slice(0, 200)}` };
  const samples = JSON.parse(result.stdout) as number[];
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), samples };
}
