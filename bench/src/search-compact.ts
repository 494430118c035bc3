import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { knnInnerProduct } from 'faiss-node';
import { SnapshotReader, applyFaissThreading, type Snapshot } from '@lookalike/index-store';
import { defaultModelIdentity, percentile, round, startApi, type ApiProcess } from './common';
import { COMPACT_SPEC, catalogueSpace, publishCatalogue } from './compact';
import { K } from './search-methods';
import { mean, precisionAt, ratioOfMedians } from './stats';
import type { BenchContext, BenchTable } from './types';

/**
 * The compact index against the seed (issue 15): at each size, the same "looks"-structured catalogue
 * published twice through SnapshotWriter — raw (2304-d served) and compact (projection fitted by
 * fitProjection on the catalogue, served at its output dimension) — and served by two real API
 * processes. Interleaved per query: the seed's method (sklearn NearestNeighbors brute, refitted per
 * query, in one python3 peer that holds both matrices) on the RAW vectors and on the same COMPACT
 * vectors the API searches, and the API by id on both snapshots. P@5 = the share of the first five
 * neighbours (self excluded) in the query's look.
 */

const P_AT = 5;

const PEER_SCRIPT = `
import json, sys, time
import numpy as np
from sklearn.neighbors import NearestNeighbors
k = int(sys.argv[1])
mats = {}
for spec in sys.argv[2:]:
    name, path, n, d = spec.split('|')
    mats[name] = np.fromfile(path, dtype='<f4').reshape(int(n), int(d))
print('ready', flush=True)
for line in sys.stdin:
    name, q = line.split()
    X, q = mats[name], int(q)
    t0 = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm='brute').fit(X)
    _, idx = nn.kneighbors(X[q:q + 1])
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({'ms': ms, 'neighbours': idx[0].tolist()}), flush=True)
`;

/** The seed's method in a python3 peer that answers one "<matrix> <row>" line at a time. */
class SklearnPeer {
  private readonly pending: Array<(line: string) => void> = [];
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.pending.shift()?.(line));
  }

  static async start(
    python: string,
    matrices: Array<{ name: string; file: string; rows: number; dimension: number }>,
  ): Promise<SklearnPeer> {
    const args = matrices.map((m) => `${m.name}|${m.file}|${m.rows}|${m.dimension}`);
    const child = spawn(python, ['-c', PEER_SCRIPT, String(K), ...args], { stdio: 'pipe' });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    const peer = new SklearnPeer(child);
    const ready = await new Promise<string>((resolve, reject) => {
      peer.pending.push(resolve);
      child.once('exit', (code) => reject(new Error(`bench: sklearn peer exited (${code}): ${stderr}`)));
    });
    if (ready !== 'ready') throw new Error(`bench: sklearn peer said ${ready}`);
    return peer;
  }

  query(matrix: string, row: number): Promise<{ ms: number; neighbours: number[] }> {
    return new Promise((resolve) => {
      this.pending.push((line) => resolve(JSON.parse(line) as { ms: number; neighbours: number[] }));
      this.child.stdin.write(`${matrix} ${row}\n`);
    });
  }

  stop(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

export const COMPACT_METHOD = {
  seedRaw: 'sklearn brute, refit per query, raw vectors (the seed)',
  seedCompact: 'sklearn brute, refit per query, the same compact vectors',
  apiRaw: 'API by id, raw snapshot (today)',
  apiCompact: 'API by id, compact snapshot',
} as const;

export interface CompactSizeResult {
  items: number;
  rawDimension: number;
  compactDimension: number;
  fitMs: number;
  publishMs: { raw: number; compact: number };
  /** Per method: latency samples (ms, interleaved) and P@5 per anchor. */
  methods: Array<{
    method: string;
    dimension: number;
    samples: number[];
    precision: number[];
    /** Per anchor: the share of the raw exact top k (self excluded) this method also returned. */
    overlap: number[];
  }>;
  skipped?: string;
}

const writeMatrix = (file: string, vectors: Float32Array) =>
  writeFileSync(file, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));

/** One size: publish raw + compact, start both APIs and the peer, time all four interleaved. */
export async function benchCompactSize(
  items: number,
  apiQueries: number,
  seedQueries: number,
  python: { python: string } | { skipped: string },
  context: BenchContext,
): Promise<CompactSizeResult> {
  applyFaissThreading();
  const model = defaultModelIdentity();
  const space = catalogueSpace(model, items);
  const rawDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-compact-raw-'));
  const compactDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-compact-'));
  const apis: ApiProcess[] = [];
  let peer: SklearnPeer | null = null;
  try {
    context.log(`search/compact: ${items} × ${model.dimension} clustered vectors, raw and ${COMPACT_SPEC}`);
    const raw = new Float32Array(items * model.dimension);
    const rawPublished = await publishCatalogue({
      dataDir: rawDir,
      model,
      space,
      items,
      configuration: 'raw',
      chunk: items,
      keep: (first, chunk) => raw.set(chunk, first * model.dimension),
    });
    const compactPublished = await publishCatalogue({
      dataDir: compactDir,
      model,
      space,
      items,
      configuration: 'compact',
      chunk: items,
    });
    const reader = await SnapshotReader.open({
      dataDir: compactDir,
      expectedModel: model,
      pollIntervalMs: 60_000,
    });
    const snapshot = reader.current() as Snapshot;
    const compactDimension = snapshot.dimension;
    const compact = new Float32Array(items * compactDimension);
    for (let i = 0; i < items; i++)
      compact.set(snapshot.vectorOf(`item-${i}`) as Float32Array, i * compactDimension);
    await reader.close();
    context.log(
      `search/compact: fit ${round(compactPublished.fitMs, 0)} ms; publish raw ${round(rawPublished.publishMs, 0)} ms, compact ${round(compactPublished.publishMs, 0)} ms`,
    );
    apis.push(await startApi(context, rawDir, items), await startApi(context, compactDir, items));
    const [rawApi, compactApi] = apis as [ApiProcess, ApiProcess];
    if (!('skipped' in python)) {
      const rawFile = path.join(rawDir, 'raw.f32');
      const compactFile = path.join(compactDir, 'compact.f32');
      writeMatrix(rawFile, raw);
      writeMatrix(compactFile, compact);
      peer = await SklearnPeer.start(python.python, [
        { name: 'raw', file: rawFile, rows: items, dimension: model.dimension },
        { name: 'compact', file: compactFile, rows: items, dimension: compactDimension },
      ]);
    }
    const anchor = (q: number) => (q * 7919 + 13) % items;
    const look = (position: number) => space.lookOf(position);
    const precisionOf = (q: number, neighbours: number[]) =>
      precisionAt(
        P_AT,
        look(anchor(q)),
        neighbours.filter((n) => n !== anchor(q)),
        look,
      );
    const apiById = (url: string) => async (q: number) => {
      const response = await fetch(`${url}/v1/items/item-${anchor(q)}/similar?k=${K}`);
      const body = (await response.json()) as { results?: Array<{ id: string }> };
      if (response.status !== 200 || body.results?.length !== K)
        throw new Error(`bench: API by-id answered ${response.status}`);
      return body.results.map((r) => Number(r.id.slice('item-'.length)));
    };
    const seed = (matrix: string) => async (q: number) => {
      const answer = await (peer as SklearnPeer).query(matrix, anchor(q));
      return { neighbours: answer.neighbours, ms: answer.ms };
    };
    type Method = {
      method: string;
      dimension: number;
      seed: boolean;
      run: (q: number) => Promise<number[] | { neighbours: number[]; ms: number }>;
    };
    const methods: Method[] = [
      ...(peer
        ? [
            { method: COMPACT_METHOD.seedRaw, dimension: model.dimension, seed: true, run: seed('raw') },
            {
              method: COMPACT_METHOD.seedCompact,
              dimension: compactDimension,
              seed: true,
              run: seed('compact'),
            },
          ]
        : []),
      { method: COMPACT_METHOD.apiRaw, dimension: model.dimension, seed: false, run: apiById(rawApi.url) },
      {
        method: COMPACT_METHOD.apiCompact,
        dimension: compactDimension,
        seed: false,
        run: apiById(compactApi.url),
      },
    ];
    for (const m of methods) await m.run(0); // warm-up
    const results = methods.map((m) => ({
      method: m.method,
      dimension: m.dimension,
      samples: [] as number[],
      precision: [] as number[],
      overlap: [] as number[],
    }));
    // The raw exact top k of every anchor (self excluded): what the compact answers are compared with.
    const exactTopK = (vectors: Float32Array, d: number): number[][] => {
      const queries = new Float32Array(apiQueries * d);
      for (let q = 0; q < apiQueries; q++)
        queries.set(vectors.subarray(anchor(q) * d, (anchor(q) + 1) * d), q * d);
      const labels = Array.from(knnInnerProduct(queries, vectors, d, K + 1).labels);
      return Array.from({ length: apiQueries }, (_, q) =>
        labels
          .slice(q * (K + 1), (q + 1) * (K + 1))
          .filter((n) => n !== anchor(q))
          .slice(0, K),
      );
    };
    const rawTruth = exactTopK(raw, model.dimension);
    const overlapOf = (q: number, neighbours: number[]) => {
      const truth = new Set(rawTruth[q]);
      return (
        neighbours
          .filter((n) => n !== anchor(q))
          .slice(0, K)
          .filter((n) => truth.has(n)).length / K
      );
    };
    context.log(
      `search/compact: ${apiQueries} API queries, ${seedQueries} sklearn queries per method, interleaved`,
    );
    for (let q = 0; q < apiQueries; q++) {
      for (let j = 0; j < methods.length; j++) {
        const index = (q + j) % methods.length;
        const m = methods[index] as Method;
        if (m.seed && q >= seedQueries) continue;
        const t0 = performance.now();
        const answer = await m.run(q);
        const elapsed = performance.now() - t0;
        const result = results[index] as (typeof results)[number];
        // The seed's own time (fit + kneighbors in python), not the pipe round trip.
        const neighbours = Array.isArray(answer) ? answer : answer.neighbours;
        result.samples.push(Array.isArray(answer) ? elapsed : answer.ms);
        result.precision.push(precisionOf(q, neighbours));
        result.overlap.push(overlapOf(q, neighbours));
      }
    }
    // P@5 of the seed's answers over as many anchors as the API's: exact inner-product search over the
    // same matrices (what brute force returns on unit vectors), batched through faiss.
    for (const result of results) {
      if (!result.method.startsWith('sklearn')) continue;
      const top = result.dimension === model.dimension ? rawTruth : exactTopK(compact, compactDimension);
      result.precision = top.map((neighbours, q) => precisionOf(q, neighbours));
      result.overlap = top.map((neighbours, q) => overlapOf(q, neighbours));
    }
    return {
      items,
      rawDimension: model.dimension,
      compactDimension,
      fitMs: compactPublished.fitMs,
      publishMs: { raw: rawPublished.publishMs, compact: compactPublished.publishMs },
      methods: results,
      ...('skipped' in python ? { skipped: python.skipped } : {}),
    };
  } finally {
    peer?.stop();
    for (const api of apis) await api.stop();
    rmSync(rawDir, { recursive: true, force: true });
    rmSync(compactDir, { recursive: true, force: true });
  }
}

/** The compact tables: every method with P@5, and the targets (ratios of medians within the run). */
export function compactReport(results: CompactSizeResult[]): BenchTable[] {
  const rows: Array<Array<string | number>> = [];
  const targets: Array<Array<string | number>> = [];
  for (const r of results) {
    const find = (method: string) => r.methods.find((m) => m.method === method);
    const seedRaw = find(COMPACT_METHOD.seedRaw);
    const seedCompact = find(COMPACT_METHOD.seedCompact);
    const apiRaw = find(COMPACT_METHOD.apiRaw);
    const apiCompact = find(COMPACT_METHOD.apiCompact);
    for (const m of r.methods) {
      const p50 = percentile(m.samples, 50);
      rows.push([
        r.items,
        m.method,
        m.dimension,
        round(p50),
        round(percentile(m.samples, 99)),
        round(mean(m.precision), 3),
        round(mean(m.overlap), 3),
        seedRaw ? `${round(ratioOfMedians(seedRaw.samples, m.samples), 1)}×` : 'skipped',
      ]);
    }
    const vsSeed = seedRaw && apiCompact ? ratioOfMedians(seedRaw.samples, apiCompact.samples) : NaN;
    const pSeed = seedRaw ? mean(seedRaw.precision) : NaN;
    const pCompact = apiCompact ? mean(apiCompact.precision) : NaN;
    targets.push([
      r.items,
      Number.isFinite(vsSeed) ? `${round(vsSeed, 1)}×` : (r.skipped ?? 'skipped'),
      Number.isFinite(vsSeed) ? (vsSeed >= 20 ? 'met (≥ 20×)' : 'gap (< 20×)') : '',
      `${round(pCompact, 3)} vs ${round(pSeed, 3)} — ${pCompact >= pSeed ? 'met' : 'gap'}`,
      seedCompact && apiCompact
        ? `${round(ratioOfMedians(seedCompact.samples, apiCompact.samples), 1)}×`
        : '',
      apiRaw && apiCompact ? `${round(ratioOfMedians(apiRaw.samples, apiCompact.samples), 1)}×` : '',
    ]);
  }
  const first = results[0];
  const dims = first
    ? `${first.rawDimension} raw → ${first.compactDimension} compact (${COMPACT_SPEC})`
    : COMPACT_SPEC;
  return [
    {
      title: `Compact index vs the seed: exact by-id queries, ${dims}, k=${K}`,
      columns: [
        'items',
        'API compact by id vs seed (sklearn, raw), p50 ratio',
        'target ≥ 20×',
        `P@${P_AT} compact API vs seed — target ≥`,
        'vs sklearn on the same compact vectors',
        'vs API on the raw snapshot',
      ],
      rows: targets,
      notes: [
        'Ratios of medians from one run, every method interleaved per query. The seed: python3 sklearn ' +
          "NearestNeighbors(algorithm='brute') refitted on every query over the full matrix (its own fit + kneighbors time, not the pipe).",
      ],
    },
    {
      title: `Compact vs raw, by id (same catalogue and anchors), k=${K}`,
      columns: [
        'items',
        'method',
        'dimension searched',
        'p50 ms',
        'p99 ms',
        `P@${P_AT} (look)`,
        `overlap with raw exact top ${K}`,
        'seed p50 / p50',
      ],
      rows,
      notes: [
        `Synthetic "looks"-structured catalogue (categories → looks of ~50 items, cosine ≈ 0.9 to their look); P@${P_AT} = share of the first ${P_AT} ` +
          'neighbours (self excluded) in the query item’s look, over every timed anchor; the sklearn rows’ P@5 over the same anchors by exact ' +
          'inner-product search of the same matrix (brute force’s answer on unit vectors). Overlap: the share of the raw vectors’ exact top ' +
          `${K} the method returned (what the projection loses; 1 for exact search on raw). P@5 on real catalogue photos: see Evaluation.`,
        `Projection fitted with fitProjection (${COMPACT_SPEC}) on the catalogue itself; fit ms: ${results.map((r) => `${r.items / 1000}k ${round(r.fitMs, 0)}`).join(', ')}.`,
      ],
    },
  ];
}
