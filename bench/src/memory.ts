import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultModelIdentity, median, round, rssMiB, sleep, startApi } from './common';
import { COMPACT_SPEC, catalogueSpace, publishCatalogue, type Configuration } from './compact';
import { byIdRequests } from './load';
import { fitLine } from './stats';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Memory of the real API process (services/api/dist/server.js, default settings) serving a raw and a
 * compact snapshot of the same "looks"-structured catalogue at several sizes (50k and 200k; quick:
 * 10k and 25k; BENCH_SCALE_ITEMS adds a larger one, e.g. 1000000), published through SnapshotWriter in
 * chunks of 100k (one publish each, as an import would). RSS is read from /proc after the snapshot is
 * served and 50 by-id queries have run, as the median of 8 samples 250 ms apart; the per-item slope is
 * the least-squares line through the sizes, extrapolated to 1M where 1M was not measured.
 */

const MILLION = 1_000_000;
/** The sizes measured in every full run (quick: 10k and 25k). */
const STANDARD_SIZES = [50_000, 200_000];

/** The target: API RSS at 1M items ≤ 1.5 GB (10⁹ bytes) with the compact default. */
const TARGET_MIB = 1.5e9 / 2 ** 20;

interface MemoryPoint {
  configuration: Configuration;
  items: number;
  rssMiB: number;
  /** The served vectors' bytes (what the API must hold), MiB. */
  servedMiB: number;
  publishMs: number;
  startMs: number;
}

async function measure(
  context: BenchContext,
  configuration: Configuration,
  items: number,
): Promise<MemoryPoint> {
  const model = defaultModelIdentity();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `lookalike-bench-memory-${configuration}-`));
  try {
    context.log(`memory: ${configuration}, publishing ${items} items`);
    const published = await publishCatalogue({
      dataDir,
      model,
      space: catalogueSpace(model, items),
      items,
      configuration,
      chunk: 100_000,
      writerOptions: { gcGraceMs: 0 },
    });
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    const api = await startApi(context, dataDir, items);
    const startMs = performance.now() - started;
    try {
      for (const request of byIdRequests(items).slice(0, 50)) {
        const response = await fetch(`${api.url}${request.path as string}`);
        if (response.status !== 200) throw new Error(`bench: API by-id answered ${response.status}`);
        await response.arrayBuffer();
      }
      await sleep(1000);
      const samples: number[] = [];
      for (let i = 0; i < 8; i++) {
        samples.push(rssMiB(api.pid));
        await sleep(250);
      }
      return {
        configuration,
        items,
        rssMiB: median(samples),
        servedMiB: (items * published.dimension * 4) / 2 ** 20,
        publishMs: published.publishMs,
        startMs,
      };
    } finally {
      await api.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The memory rows: measured points, the slope per configuration and the value at 1M. */
export function memoryReport(points: MemoryPoint[], skipped: string[]): BenchTable {
  const rows: Array<Array<string | number>> = [];
  const configurations: Configuration[] = ['raw', 'compact'];
  for (const configuration of configurations) {
    const own = points.filter((p) => p.configuration === configuration).sort((a, b) => a.items - b.items);
    for (const p of own)
      rows.push([
        configuration,
        p.items,
        round(p.rssMiB, 0),
        round(p.servedMiB, 0),
        'measured',
        round(p.startMs / 1000, 1),
      ]);
    if (own.length >= 2) {
      const line = fitLine(own.map((p) => [p.items, p.rssMiB] as const));
      const at1M = own.find((p) => p.items === MILLION)?.rssMiB ?? line.a + line.b * MILLION;
      const bytesPerItem = line.b * 2 ** 20;
      const verdict =
        configuration === 'compact'
          ? ` — target ≤ 1.5 GB (${round(TARGET_MIB, 0)} MiB): ${at1M <= TARGET_MIB ? 'met' : 'gap'}`
          : '';
      rows.push([
        configuration,
        MILLION,
        round(at1M, 0),
        '',
        own.some((p) => p.items === MILLION)
          ? `measured${verdict}`
          : `extrapolated: ${round(bytesPerItem, 0)} bytes per item + ${round(line.a, 0)} MiB${verdict}`,
        '',
      ]);
    }
  }
  return {
    title: `API memory: real API process, raw vs compact (${COMPACT_SPEC}), RSS after load + 50 by-id queries`,
    columns: [
      'configuration',
      'items',
      'API RSS MiB',
      'served vectors MiB',
      'measured / extrapolated',
      'start to serving s',
    ],
    rows,
    notes: [
      'RSS: median of 8 /proc samples of the API process (default settings, RATE_LIMIT_MAX=0), after it served the snapshot ' +
        'and answered 50 by-id queries. Slope: least squares through the measured sizes. The raw vector files of a compact ' +
        'snapshot stay on disk (readers never open them).',
      ...skipped,
    ],
  };
}

export const memorySuite: BenchSuite = {
  name: 'memory',
  async run(context: BenchContext) {
    const { dimension } = defaultModelIdentity();
    const sizes = [
      ...new Set([
        ...(context.quick ? [10_000, 25_000] : STANDARD_SIZES),
        ...(context.scaleItems ? [context.scaleItems] : []),
      ]),
    ].sort((a, b) => a - b);
    const points: MemoryPoint[] = [];
    const skipped: string[] = [];
    for (const items of sizes) {
      for (const configuration of ['compact', 'raw'] as const) {
        // The raw API holds every 2304-d vector (plus the bench's chunk and the page cache): skip a size
        // that would not fit rather than measure a machine that swaps or is OOM-killed.
        const needed = items * dimension * 4 * 1.3 + 2 * 2 ** 30;
        // The raw line is linear and measured at the standard sizes; at BENCH_SCALE_ITEMS only the
        // compact configuration is measured (raw at 1M would hold ~9 GB and write ~10 GB for a number
        // the slope already gives).
        if (configuration === 'raw' && items === context.scaleItems && !STANDARD_SIZES.includes(items)) {
          skipped.push(`raw at ${items} items not measured: extrapolated from the measured sizes.`);
          continue;
        }
        if (configuration === 'raw' && needed > os.freemem()) {
          skipped.push(
            `raw at ${items} items skipped: needs ≈ ${round(needed / 2 ** 30, 1)} GiB free, ${round(os.freemem() / 2 ** 30, 1)} GiB were.`,
          );
          continue;
        }
        points.push(await measure(context, configuration, items));
      }
    }
    return { tables: [memoryReport(points, skipped)], raw: { sizes, points, skipped } };
  },
};
