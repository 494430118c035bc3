import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ModelIdentity } from '@lookalike/contracts';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { SnapshotWriter, type Snapshot } from '@lookalike/index-store';
import {
  fitProjectionWithStats,
  formatProjectionSpec,
  type LinearProjection,
  type ProjectionSpec,
} from '@lookalike/projection';
import {
  DEFAULT_RANKING_CONFIG,
  RankingMaintainer,
  labelOf,
  rankedSearch,
  readRankingModel,
  seededRandom,
  type JudgedQuery,
  type RankingWeights,
  type SearchHit,
} from '@lookalike/ranking';
import { ImportInputError, readCatalogueCsv } from '../catalogue-import/csv';
import type { CliConfig } from '../config';
import { contactSheet } from './contact-sheet';
import { cacheKey, readEmbeddingsCache, writeEmbeddingsCache } from './embeddings-cache';
import { CRITERIA, K, foldOf, judge, keyOf, summarizeMode, type EvalItem, type EvalReport } from './judging';

export interface EvalOptions {
  catalogue: string;
  folds: number;
  json?: string;
  report?: string;
  sheet: string;
  limit?: number;
  csv: string;
  imageTemplate: string;
  /** File of the catalogue's embeddings, reused while model and images are unchanged. */
  embeddingsCache?: string;
  /** Parsed `--projection`: fitted per fold on the training folds only; `none` = raw embeddings. */
  projection: ProjectionSpec;
  /** The ranking's label fields (`--ranking-label-fields`), most important first. */
  rankingLabelFields: string[];
  /** Overrides of the ranking's query-time weights (`--ranking-weights`). */
  rankingWeights: Partial<RankingWeights>;
}

/** The training folds' raw vectors, row-major, for the projection fit. */
function stack(items: readonly EvalItem[], d: number): Float32Array {
  const out = new Float32Array(items.length * d);
  items.forEach((item, i) => out.set(item.vector, i * d));
  return out;
}

/** Row `i` of a row-major block of `d`-float vectors (a view, no copy). */
function rowOf(block: Float32Array, i: number, d: number): Float32Array {
  return block.subarray(i * d, (i + 1) * d);
}

/** Embeds every catalogue image once (several per session in flight); null where an image failed. */
async function embedAll(
  embedder: Embedder,
  items: Omit<EvalItem, 'vector' | 'colour' | 'fold'>[],
  root: string,
  log: (s: string) => void,
) {
  const out: Array<{ vector: Float32Array; colour: Float32Array } | null> = new Array(items.length).fill(
    null,
  );
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const item = items[i] as (typeof items)[number];
      try {
        // Exactly what the API does with an upload: image bytes in, embedding + colour out.
        const { vector, colour } = await embedder.embed(await readFile(path.join(root, item.imagePath)));
        out[i] = { vector, colour };
      } catch (err) {
        log(`  skipped ${item.id}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (++done % 1000 === 0) log(`  embedded ${done}/${items.length}`);
    }
  };
  await Promise.all(Array.from({ length: embedder.options.sessions * 4 }, worker));
  return out;
}

export type CatalogueOptions = Pick<
  EvalOptions,
  'catalogue' | 'csv' | 'imageTemplate' | 'limit' | 'embeddingsCache'
>;

export interface EmbeddedCatalogue {
  root: string;
  model: ModelIdentity;
  /** Every catalogue row with an image that embedded, in catalogue order. */
  items: Array<Omit<EvalItem, 'fold'>>;
  embedSeconds: number;
}

/**
 * Reads the catalogue (Kaggle layout) and embeds every image once, as the API embeds an upload, or
 * reads the embeddings from `--embeddings-cache` while model and images are unchanged.
 */
export async function embedCatalogue(
  config: CliConfig,
  options: CatalogueOptions,
  log: (s: string) => void,
): Promise<EmbeddedCatalogue> {
  const root = path.resolve(options.catalogue);
  const csvPath = path.join(root, options.csv);
  if (!existsSync(csvPath)) throw new ImportInputError(`no ${options.csv} in ${root}`);
  const catalogue = readCatalogueCsv(await readFile(csvPath, 'utf8'), {
    idColumn: 'id',
    imageTemplate: options.imageTemplate,
  });
  let rows = catalogue.rows.filter((row) => existsSync(path.join(root, row.imagePath)));
  if (options.limit) rows = rows.slice(0, options.limit);
  log(`${rows.length} items with images in ${root}`);

  const embedder = await createEmbedder({
    model: config.MODEL,
    cacheDir: path.resolve(config.MODEL_CACHE_DIR),
    mirror: config.MODEL_MIRROR,
  });
  try {
    const embedStarted = performance.now();
    let embedded: Awaited<ReturnType<typeof embedAll>>;
    if (options.embeddingsCache) {
      const file = path.resolve(options.embeddingsCache);
      const key = await cacheKey(embedder.model, embedder.options.fit, rows, root);
      const cached = await readEmbeddingsCache(file, key, embedder.model, rows.length);
      if (cached) {
        embedded = cached;
        log(`embeddings read from ${file}`);
      } else {
        embedded = await embedAll(embedder, rows, root, log);
        await writeEmbeddingsCache(file, key, embedder.model, embedded);
        log(`embeddings written to ${file}`);
      }
    } else embedded = await embedAll(embedder, rows, root, log);
    const embedSeconds = (performance.now() - embedStarted) / 1000;
    const items: Array<Omit<EvalItem, 'fold'>> = [];
    rows.forEach((row, i) => {
      const e = embedded[i];
      if (e) items.push({ ...row, ...e });
    });
    log(`embedded ${items.length} images in ${embedSeconds.toFixed(0)} s`);
    return { root, model: embedder.model, items, embedSeconds };
  } finally {
    await embedder.close();
  }
}

/**
 * The evaluation: embed the catalogue once, then per fold publish the other folds through the
 * indexer's own path (SnapshotWriter + RankingMaintainer) and query the fold's images against it,
 * judged with and without the learned ranking.
 */
export async function runEval(
  config: CliConfig,
  options: EvalOptions,
  log: (s: string) => void,
): Promise<EvalReport> {
  const started = performance.now();
  const catalogue = await embedCatalogue(config, options, log);
  const { root, embedSeconds } = catalogue;
  const embedder = { model: catalogue.model };
  const items: EvalItem[] = catalogue.items.map((item) => ({
    ...item,
    fold: foldOf(item.id, options.folds),
  }));
  const byId = new Map(items.map((item) => [item.id, item]));
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lookalike-eval-'));
  try {
    const judged = {
      baseline: {} as Record<string, JudgedQuery[]>,
      full: {} as Record<string, JudgedQuery[]>,
    };
    const queryMs = { baseline: 0, full: 0 };
    let queries = 0;
    const fitMs: number[] = [];
    const projectionFits: EvalReport['projection']['fits'] = [];
    const spec = options.projection;
    const rankingConfig = {
      ...DEFAULT_RANKING_CONFIG,
      labelFields: options.rankingLabelFields,
      weights: { ...DEFAULT_RANKING_CONFIG.weights, ...options.rankingWeights },
    };
    const sheetRows: Array<{ query: EvalItem; hits: SearchHit[] }> = [];
    const random = seededRandom(12);
    const sheetPicks = new Set<string>();
    while (sheetPicks.size < Math.min(12, items.length))
      sheetPicks.add((items[Math.floor(random() * items.length)] as EvalItem).id);

    for (let fold = 0; fold < options.folds; fold++) {
      const train = items.filter((item) => item.fold !== fold);
      const test = items.filter((item) => item.fold === fold);
      // With a projection: fitted on the training folds' raw vectors only (the test fold never takes
      // part), and both train and test vectors mapped with it — what the indexer and the API will do.
      let projection: LinearProjection | null = null;
      if (spec.kind !== 'none') {
        const d = embedder.model.dimension;
        // Joined LDA directions use the ranking's own label field (its first), as the indexer would.
        const field = rankingConfig.labelFields[0] as string;
        const labels = spec.ldaDimensions ? train.map((item) => labelOf(item.metadata, field)) : undefined;
        const fitted = fitProjectionWithStats(stack(train, d), train.length, embedder.model, {
          ...spec,
          labels,
        });
        projection = fitted.projection;
        projectionFits.push({
          fold,
          fitMs: fitted.stats.durationMs,
          projectMs: 0,
          samples: fitted.stats.samples,
          explainedVariance: fitted.stats.explainedVariance,
          id: projection.descriptor.id,
        });
      }
      // The indexer's own publish path: SnapshotWriter + RankingMaintainer (fit in a worker thread).
      // The raw embeddings go in as the indexer gives them; with a projection the writer stores them
      // aside and serves the projected vectors (a compact snapshot), as in production.
      const writer = await SnapshotWriter.open({
        dataDir: path.join(tmp, `fold-${fold}`),
        model: embedder.model,
      });
      const maintainer = new RankingMaintainer(writer, { config: rankingConfig });
      const publishStarted = performance.now();
      await maintainer.publish({
        upserts: train.map((item) => ({
          id: item.id,
          vector: item.vector,
          colour: item.colour,
          metadata: item.metadata,
          contentHash: item.id,
        })),
        deletes: [],
        ...(projection ? { projection, projectionReplaces: null } : {}),
      });
      const fitRecord = projectionFits.at(-1);
      if (projection && fitRecord) fitRecord.projectMs = performance.now() - publishStarted;
      await maintainer.idle();
      const snapshot = (await writer.latest()) as Snapshot;
      const ranking = readRankingModel(snapshot);
      fitMs.push(ranking?.stats.durationMs ?? 0);
      const counts = new Map<string, Map<string, number>>();
      for (const [name, fields] of Object.entries(CRITERIA)) {
        const c = new Map<string, number>();
        for (const item of train) {
          const key = keyOf(item.metadata, fields);
          if (key !== null) c.set(key, (c.get(key) ?? 0) + 1);
        }
        counts.set(name, c);
      }
      // Queries as the API makes them: the raw embedding mapped with the served snapshot's own projection.
      const projector = snapshot.projector();
      const d = embedder.model.dimension;
      const testProjected = projector ? projector.project(stack(test, d)) : null;
      for (const [q, query] of test.entries()) {
        const vector = testProjected ? rowOf(testProjected, q, projector!.outputDimension) : query.vector;
        let t = performance.now();
        const plain = snapshot.search(vector, { k: K });
        queryMs.baseline += performance.now() - t;
        t = performance.now();
        // The API's upload path: no id, no labels — the embedder's output only.
        const full = rankedSearch(snapshot, { vector, colour: query.colour }, { k: K });
        queryMs.full += performance.now() - t;
        queries++;
        for (const [mode, hits] of [
          ['baseline', plain],
          ['full', full],
        ] as const) {
          for (const [name, j] of Object.entries(judge(query, hits, counts)))
            (judged[mode][name] ??= []).push(j);
        }
        if (sheetPicks.has(query.id)) sheetRows.push({ query, hits: full });
      }
      await maintainer.close();
      await writer.close();
      log(
        `fold ${fold + 1}/${options.folds}: ${train.length} indexed, ${test.length} queries, ` +
          `${projection ? `projection ${projection.descriptor.id} fit ${((projectionFits.at(-1)?.fitMs ?? 0) / 1000).toFixed(1)} s, ` : ''}` +
          `ranking fit ${((ranking?.stats.durationMs ?? 0) / 1000).toFixed(1)} s (${ranking?.lda?.dimensions ?? 0}-d LDA)`,
      );
    }

    let sheet: string | null = null;
    if (options.sheet !== 'none') {
      sheet = path.resolve(options.sheet);
      await contactSheet(sheet, sheetRows, byId, root);
    }
    const report: EvalReport = {
      catalogue: root,
      model: embedder.model.id,
      items: items.length,
      folds: options.folds,
      seconds: {
        embed: embedSeconds,
        fit: fitMs.reduce((a, b) => a + b, 0) / 1000,
        total: (performance.now() - started) / 1000,
      },
      fitMsPerFold: fitMs,
      projection: {
        spec: formatProjectionSpec(spec),
        dimension: spec.kind === 'none' ? embedder.model.dimension : spec.outputDimension,
        fitSeconds: projectionFits.reduce((a, f) => a + f.fitMs, 0) / 1000,
        fits: projectionFits,
      },
      rankingLabelFields: [...rankingConfig.labelFields],
      baseline: summarizeMode(judged.baseline, queryMs.baseline / Math.max(1, queries)),
      full: summarizeMode(judged.full, queryMs.full / Math.max(1, queries)),
      contactSheet: sheet,
    };
    return report;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
