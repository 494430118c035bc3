import { findSklearnPython } from './common';
import { benchCompactSize, compactReport, type CompactSizeResult } from './search-compact';
import { searchReport } from './search-report';
import type { SizeResult } from './search-methods';
import { benchSize } from './search-size';
import type { BenchContext, BenchSuite } from './types';

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
 * Then the compact configuration (search-compact.ts): raw vs compact snapshots on a clustered
 * catalogue, by id through the API, against the seed's method on the raw and on the same compact vectors.
 */
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
    const report = searchReport(results, plan);
    // The compact configuration (issue 15) on a clustered catalogue: raw vs compact, and vs the seed.
    const compactPlan: Array<[items: number, apiQueries: number]> = context.quick
      ? [[10_000, 20]]
      : [
          [50_000, 60],
          [200_000, 30],
        ];
    const compact: CompactSizeResult[] = [];
    for (const [items, apiQueries] of compactPlan)
      compact.push(await benchCompactSize(items, apiQueries, sklearnQueries, python, context));
    return {
      tables: [...compactReport(compact), ...report.tables],
      raw: { exact: report.raw, compact },
    };
  },
};
