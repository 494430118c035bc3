import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter, type ItemInput, type Snapshot } from '@lookalike/index-store';
import {
  DEFAULT_RANKING_CONFIG,
  RankingMaintainer,
  rankedSearch,
  rankedSearchById,
  readRankingModel,
} from '@lookalike/ranking';
import { defaultModelIdentity, percentile, randomUnitVectors, round } from './common';
import type { BenchSuite, BenchTable } from './types';

/**
 * Learned ranking at catalogue scale, on synthetic data (50k items; quick: 10k): 150 article types
 * whose items share a class direction, 12 colours with histograms. Measures the publish-time fit
 * (in its worker thread, as the indexer runs it) and query latency of the learned ranking against
 * plain KNN on the same snapshot, by vector (upload, after inference) and by id.
 */
const K = 10;
const CLASSES = 150;

function syntheticCatalogue(count: number, dimension: number): Array<ItemInput & { colour: Float32Array }> {
  const noise = randomUnitVectors(count, dimension, 7);
  const centres = randomUnitVectors(CLASSES, dimension, 11);
  return Array.from({ length: count }, (_, i) => {
    const cls = i % CLASSES;
    const vector = new Float32Array(dimension);
    let s = 0;
    for (let j = 0; j < dimension; j++) {
      const v = 0.6 * (centres[cls * dimension + j] as number) + (noise[i * dimension + j] as number);
      vector[j] = v;
      s += v * v;
    }
    for (let j = 0; j < dimension; j++) vector[j] = (vector[j] as number) / Math.sqrt(s);
    const colour = new Float32Array(101);
    colour[i % 12] = 0.7;
    colour[96 + (i % 5)] = 0.3;
    return {
      id: `item-${i}`,
      vector,
      colour,
      contentHash: `${i}`,
      metadata: { articleType: `type-${cls}`, baseColour: `colour-${i % 12}` },
    };
  });
}

export const rankingSuite: BenchSuite = {
  name: 'ranking',
  async run(context) {
    const model = defaultModelIdentity();
    const count = context.quick ? 10_000 : 50_000;
    const queries = context.quick ? 200 : 500;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-ranking-'));
    try {
      const items = syntheticCatalogue(count, model.dimension);
      const writer = await SnapshotWriter.open({ dataDir: dir, model });
      const warnings: string[] = [];
      const maintainer = new RankingMaintainer(writer, {
        config: { ...DEFAULT_RANKING_CONFIG },
        dimension: model.dimension,
        logger: {
          info: () => undefined,
          warn: (details, message) => {
            const err = (details as { err?: unknown }).err;
            warnings.push(`${message}: ${err instanceof Error ? err.message : String(err)}`);
            context.log(`ranking: ${warnings.at(-1)}`);
          },
        },
      });
      context.log(`ranking: publishing ${count} items`);
      const publishStarted = performance.now();
      await maintainer.publish({ upserts: items, deletes: [] });
      const publishMs = performance.now() - publishStarted;
      const fitStarted = performance.now();
      await maintainer.idle();
      const fitTotalMs = performance.now() - fitStarted;
      const snapshot = (await writer.latest()) as Snapshot;
      const fitted = readRankingModel(snapshot);
      // A suite that times "learned" queries without a model would time plain ones twice.
      if (!fitted?.lda)
        throw new Error(`ranking: the fit published no model (${warnings.join('; ') || 'no warning'})`);
      context.log(`ranking: fitted in ${round(fitTotalMs / 1000, 1)} s; timing queries`);

      const times = {
        plain: [] as number[],
        ranked: [] as number[],
        plainId: [] as number[],
        rankedId: [] as number[],
      };
      const time = (list: number[], run: () => unknown) => {
        const t = performance.now();
        run();
        list.push(performance.now() - t);
      };
      for (let q = 0; q < queries; q++) {
        const item = items[(q * 7919) % count]!;
        // Interleaved, so a busy machine slows both alike.
        time(times.plain, () => snapshot.search(item.vector, { k: K }));
        time(times.ranked, () => rankedSearch(snapshot, item, { k: K }));
        time(times.plainId, () => snapshot.searchById(item.id, { k: K }));
        time(times.rankedId, () => rankedSearchById(snapshot, item.id, { k: K }));
      }
      await maintainer.close();
      await writer.close();
      const p50 = (list: number[]) => percentile(list.slice(10), 50);
      const tables: BenchTable[] = [
        {
          title: `Learned ranking, ${count} synthetic items (${CLASSES} classes), k=${K}`,
          columns: ['query', 'plain p50 ms', 'learned p50 ms', 'ratio'],
          rows: [
            [
              'by vector (upload, after inference)',
              round(p50(times.plain)),
              round(p50(times.ranked)),
              round(p50(times.ranked) / p50(times.plain)),
            ],
            [
              'by id',
              round(p50(times.plainId)),
              round(p50(times.rankedId)),
              round(p50(times.rankedId) / p50(times.plainId)),
            ],
          ],
          notes: [
            `Publish of ${count} items with ranking features: ${round(publishMs / 1000, 1)} s. ` +
              `Fit (worker thread) + its publish: ${round(fitTotalMs / 1000, 1)} s, of which the LDA fit ` +
              `${round((fitted?.stats.durationMs ?? 0) / 1000, 1)} s (${fitted?.lda?.dimensions ?? 0}-d projection).`,
          ],
        },
      ];
      return { tables, raw: { count, publishMs, fitTotalMs, fitMs: fitted?.stats.durationMs, times } };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
