import { Index, MetricType, knnInnerProduct } from 'faiss-node';
import { applyFaissThreading } from '@lookalike/index-store';
import { ClusteredVectors, defaultModelIdentity, percentile, round } from './common';
import type { LinearProjection } from '@lookalike/projection';
import { COMPACT_SPEC, fitCompactProjection } from './compact';
import { fitLine } from './stats';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Scale: memory and latency of exact flat inner-product search as the catalogue grows, extrapolated
 * to 1M items with the measured slope (or measured there with BENCH_SCALE_ITEMS=1000000 on a machine
 * with ~16 GB free), and an approximate IVF index (what INDEX_FACTORY="IVF<n>,Flat" publishes) at the
 * largest size that trains within the time budget: recall@10 against exact flat on the same vectors,
 * and its speed-up, per nprobe.
 *
 * Vectors are clustered (categories → looks → items, cosine ≈ 0.9 to their look), the kind of
 * structure image embeddings have; uniformly random vectors have none, and on them any approximate
 * index degrades to a scan. Queries are new items drawn from the same looks.
 */

const K = 10;
const LOOKS_PER_ITEM = 1 / 50;

/** Single-query latencies of `search` over `queries` (after one warm-up query). */
function timeQueries(
  search: (query: Float32Array) => unknown,
  queries: Float32Array,
  dimension: number,
): number[] {
  const count = queries.length / dimension;
  search(queries.subarray(0, dimension)); // warm-up
  const samples: number[] = [];
  for (let q = 0; q < count; q++) {
    const t0 = performance.now();
    search(queries.subarray(q * dimension, (q + 1) * dimension));
    samples.push(performance.now() - t0);
  }
  return samples;
}

function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

interface FlatPoint {
  items: number;
  p50: number;
  p99: number;
  vectorsMiB: number;
  /** The same search on the compact vectors (projection fitted on the first size, applied by LinearProjection.projectMany). */
  compactP50: number;
  compactMiB: number;
}

interface IvfPoint {
  nprobe: number;
  recall: number;
  p50: number;
  p99: number;
  speedup: number;
}

export const scaleSuite: BenchSuite = {
  name: 'scale',
  async run(context: BenchContext) {
    applyFaissThreading();
    const { dimension } = defaultModelIdentity();
    const sizes = context.scaleItems
      ? [...new Set([100_000, 200_000, context.scaleItems])]
          .filter((n) => n <= context.scaleItems!)
          .sort((a, b) => a - b)
      : context.quick
        ? [25_000, 50_000, 100_000]
        : [100_000, 200_000, 400_000];
    // IVF at 200k by default (training 512 lists takes ~10 s here); at the largest size when
    // BENCH_SCALE_ITEMS asks for a big run. Lists grow with √n, as usual for IVF.
    const ivfItems = context.quick
      ? 50_000
      : context.scaleItems
        ? (sizes.at(-1) as number)
        : Math.min(200_000, sizes.at(-1) as number);
    const nlist = context.quick ? 256 : 2 ** Math.round(Math.log2(512 * Math.sqrt(ivfItems / 200_000)));
    const queryCount = context.quick ? 20 : 40;
    const nprobes = [2, 4, 8, 16, 32];
    const largest = sizes.at(-1) as number;

    const space = new ClusteredVectors(dimension, Math.max(64, Math.round(largest * LOOKS_PER_ITEM)), 0x1234);
    const queries = space.sample(queryCount, 0x9999);
    const flat: FlatPoint[] = [];
    const model = defaultModelIdentity();
    let projection: LinearProjection | null = null;
    const ivf: IvfPoint[] = [];
    let ivfBuild = { trainMs: NaN, addMs: NaN, faissMiB: NaN, flatP50: NaN };
    for (const items of sizes) {
      context.log(`scale: ${items} clustered vectors, flat search`);
      let vectors: Float32Array | null = space.sample(items, 0x5eed);
      // The snapshot's flat search: faiss's exact scan on the vectors where they are (knnInnerProduct,
      // what Snapshot.search runs), so their bytes are all the memory it needs.
      const vectorsMiB = vectors.byteLength / 2 ** 20;
      const flatVectors = vectors;
      const samples = timeQueries(
        (query) => knnInnerProduct(query, flatVectors, dimension, K),
        queries,
        dimension,
      );
      // Compact: the projection is fitted once (on the first size, as the indexer fits on its catalogue)
      // and applied to every size's vectors and to the queries with LinearProjection.projectMany (BLAS).
      if (!projection) ({ projection } = fitCompactProjection(vectors, items, model));
      const compactVectors = projection.projectMany(vectors);
      const compactQueries = projection.projectMany(queries);
      const compactDimension = projection.outputDimension;
      const compactSamples = timeQueries(
        (query) => knnInnerProduct(query, compactVectors, compactDimension, K),
        compactQueries,
        compactDimension,
      );
      flat.push({
        items,
        p50: percentile(samples, 50),
        p99: percentile(samples, 99),
        vectorsMiB,
        compactP50: percentile(compactSamples, 50),
        compactMiB: compactVectors.byteLength / 2 ** 20,
      });
      if (items === ivfItems) {
        // Ground truth: exact top-k of every query (one batched flat search).
        const truth = Array.from(knnInnerProduct(queries, vectors, dimension, K).labels);
        context.log(`scale: IVF${nlist},Flat over ${items} items (train + add)`);
        const ivfIndex = Index.fromFactory(dimension, `IVF${nlist},Flat`, MetricType.METRIC_INNER_PRODUCT);
        const trainCount = Math.min(items, nlist * 40);
        const stride = Math.floor(items / trainCount);
        const sample = new Float32Array(trainCount * dimension);
        for (let i = 0; i < trainCount; i++)
          sample.set(vectors.subarray(i * stride * dimension, (i * stride + 1) * dimension), i * dimension);
        const beforeIvf = rssMiB();
        let t0 = performance.now();
        ivfIndex.train(sample);
        const trainMs = performance.now() - t0;
        t0 = performance.now();
        for (let offset = 0; offset < vectors.length; offset += 4096 * dimension)
          ivfIndex.add(vectors.subarray(offset, Math.min(vectors.length, offset + 4096 * dimension)));
        const addMs = performance.now() - t0;
        const flatP50 = percentile(samples, 50);
        ivfBuild = { trainMs, addMs, faissMiB: rssMiB() - beforeIvf, flatP50 };
        for (const nprobe of nprobes) {
          ivfIndex.setParameter('nprobe', nprobe);
          const found = ivfIndex.search(queries, K).labels;
          let hits = 0;
          for (let q = 0; q < queryCount; q++) {
            const expected = new Set(truth.slice(q * K, (q + 1) * K));
            for (const label of found.slice(q * K, (q + 1) * K)) if (expected.has(label)) hits++;
          }
          const ivfSamples = timeQueries((query) => ivfIndex.search(query, K), queries, dimension);
          const p50 = percentile(ivfSamples, 50);
          ivf.push({
            nprobe,
            recall: hits / (queryCount * K),
            p50,
            p99: percentile(ivfSamples, 99),
            speedup: flatP50 / p50,
          });
        }
      }
      vectors = null;
      // Let the next size start from a clean heap (the faiss-node patch reports native memory to V8).
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const line = fitLine(flat.map((p) => [p.items, p.p50]));
    const compactLine = fitLine(flat.map((p) => [p.items, p.compactP50]));
    const million = 1_000_000;
    const flatAt1M = flat.find((p) => p.items === million)?.p50 ?? line.a + line.b * million;
    const bytesPerItem = (flat.at(-1) as FlatPoint).vectorsMiB / largest;
    // The API holds each vector once (searched in place; by-id, filtered scans and collapse read it too).
    const apiMiBAt1M = bytesPerItem * million;
    const chosen = ivf.find((p) => p.recall >= 0.95) ?? ivf.at(-1);
    // IVF at 1M: lists grow with √n (nlist ×√(1M/n), a power of two); the same nprobe then scans
    // nprobe lists of ~1M/nlist items plus the nlist centroids, each vector at the flat per-item cost.
    const nlistAt1M = 2 ** Math.round(Math.log2(nlist * Math.sqrt(million / ivfItems)));
    const scannedAt1M = chosen ? nlistAt1M + (chosen.nprobe * million) / nlistAt1M : NaN;
    // Scaled from the IVF latency measured at ivfItems by the vectors scanned there and at 1M: its fixed
    // costs scale up with it, so this overestimates (a fit line's intercept can come out negative).
    const scannedMeasured = chosen ? nlist + (chosen.nprobe * ivfItems) / nlist : NaN;
    const ivfAt1M = chosen ? chosen.p50 * (scannedAt1M / scannedMeasured) : NaN;
    const speedupAt1M = flatAt1M / ivfAt1M;

    const flatTable: BenchTable = {
      title: `Flat inner-product search as the catalogue grows (d=${dimension}, k=${K}, single queries)`,
      columns: [
        'items',
        'p50 ms',
        'p99 ms',
        'vectors MiB',
        `compact (${COMPACT_SPEC}) p50 ms`,
        'compact vectors MiB',
        'measured / extrapolated',
      ],
      rows: [
        ...flat.map((p) => [
          p.items,
          round(p.p50, 1),
          round(p.p99, 1),
          round(p.vectorsMiB, 0),
          round(p.compactP50, 2),
          round(p.compactMiB, 0),
          'measured',
        ]),
        ...(flat.some((p) => p.items === million)
          ? []
          : [
              [
                million,
                round(flatAt1M, 0),
                '',
                round(bytesPerItem * million, 0),
                round(compactLine.a + compactLine.b * million, 1),
                round(((flat.at(-1) as FlatPoint).compactMiB / largest) * million, 0),
                `extrapolated: ${round(line.b * 1e5, 1)} ms per 100k items + ${round(line.a, 1)} ms`,
              ],
            ]),
      ],
      notes: [
        `API memory for vectors at 1M ≈ ${round(apiMiBAt1M / 1024, 1)} GiB (each vector held once: faiss scans the snapshot's own Float32Array in place). ` +
          'Metadata and the id map come on top (see the HTTP suite’s RSS at 50k).',
        `${queryCount} queries per size, new items from the same clustered distribution.`,
      ],
    };
    const ivfTable: BenchTable = {
      title: `Approximate index: IVF${nlist},Flat over ${ivfItems / 1000}k items vs exact flat (recall@${K}, single queries)`,
      columns: ['nprobe', `recall@${K}`, 'p50 ms', 'p99 ms', 'speed-up vs flat p50'],
      rows: ivf.map((p) => [
        p.nprobe,
        round(p.recall, 3),
        round(p.p50, 2),
        round(p.p99, 2),
        `${round(p.speedup, 1)}×`,
      ]),
      notes: [
        `Flat p50 at ${ivfItems / 1000}k: ${round(ivfBuild.flatP50, 1)} ms. Build: train on ${Math.min(ivfItems, nlist * 40)} points ${round(ivfBuild.trainMs / 1000, 1)} s, ` +
          `add ${ivfItems} ${round(ivfBuild.addMs / 1000, 1)} s (what a publish with INDEX_FACTORY costs the indexer); native memory ${round(ivfBuild.faissMiB, 0)} MiB.`,
        chosen
          ? `At 1M (extrapolated): IVF${nlistAt1M},Flat with nprobe ${chosen.nprobe} scans ≈ ${round(scannedAt1M, 0)} vectors (${round(scannedMeasured, 0)} at ${ivfItems / 1000}k, in ${round(chosen.p50, 2)} ms): ≈ ${round(ivfAt1M, 1)} ms vs flat ≈ ${round(flatAt1M, 0)} ms → ` +
            `≈ ${round(speedupAt1M, 0)}× faster at recall@${K} ${round(chosen.recall, 3)} (measured at ${ivfItems / 1000}k; lists at 1M hold more items, so the same nprobe covers at least as much of each neighbourhood). ` +
            `Target recall ≥ 0.95 at ≥ 10× lower latency: ${chosen.recall >= 0.95 && speedupAt1M >= 10 ? 'met' : 'gap'}.`
          : '',
        'HNSW (INDEX_FACTORY=HNSW32) is supported too, but building it at this size with Debian’s non-AVX faiss takes far longer than this suite’s budget.',
      ],
    };
    return {
      tables: [flatTable, ivfTable],
      raw: {
        dimension,
        sizes,
        flat,
        fit: line,
        flatAt1M,
        apiMiBAt1M,
        ivfItems,
        nlist,
        ivfBuild,
        ivf,
        nlistAt1M,
        scannedAt1M,
        ivfAt1M,
        speedupAt1M,
      },
    };
  },
};
