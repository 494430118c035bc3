import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter, type Snapshot } from '@lookalike/index-store';
import { fitProjectionWithStats, formatProjectionSpec, type ProjectionSpec } from '@lookalike/projection';
import { DEFAULT_RANKING_CONFIG, RankingMaintainer, labelOf, rankedSearchById } from '@lookalike/ranking';
import type { CliConfig } from '../config';
import {
  runFeedbackExperiment,
  type FeedbackExperimentOptions,
  type FeedbackExperimentReport,
} from './feedback-experiment';
import { embedCatalogue, type CatalogueOptions } from './run';
import type { ShopCandidate } from './shoppers';

export interface FeedbackEvalOptions extends CatalogueOptions {
  projection: ProjectionSpec;
  rankingLabelFields: string[];
  /** Visual candidates per by-id query the hybrid may re-order (the served ranking's top n). */
  candidates: number;
  seeds: number[];
  events: number[];
  heldOut: number;
  /** `--no-label-slots`: the free blend (feedback may re-order across label groups). */
  labelSlots: boolean;
  json?: string;
  report?: string;
}

export interface FeedbackEvalReport extends FeedbackExperimentReport {
  /** The label-slot fields (empty: the free blend). */
  slotFields: string[];
  catalogue: string;
  model: string;
  projection: string;
  rankingLabelFields: string[];
  seconds: { embed: number; index: number; visual: number; experiment: number; total: number };
}

/**
 * The feedback evaluation on a real catalogue: one index of every item built through the indexer's
 * own path (projection fitted on the catalogue, SnapshotWriter + RankingMaintainer), every item's
 * by-id results taken from it exactly as the API answers `GET /v1/items/:id/similar` (the served
 * learned ranking), then the simulated shoppers and the hybrid on those results.
 */
export async function runFeedbackEval(
  config: CliConfig,
  options: FeedbackEvalOptions,
  log: (s: string) => void,
): Promise<FeedbackEvalReport> {
  const started = performance.now();
  const catalogue = await embedCatalogue(config, options, log);
  const { items, model } = catalogue;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lookalike-eval-feedback-'));
  try {
    const indexStarted = performance.now();
    const spec = options.projection;
    const rankingConfig = { ...DEFAULT_RANKING_CONFIG, labelFields: options.rankingLabelFields };
    let projection = null;
    if (spec.kind !== 'none') {
      const d = model.dimension;
      const stacked = new Float32Array(items.length * d);
      items.forEach((item, i) => stacked.set(item.vector, i * d));
      const field = rankingConfig.labelFields[0] as string;
      const labels = spec.ldaDimensions ? items.map((item) => labelOf(item.metadata, field)) : undefined;
      projection = fitProjectionWithStats(stacked, items.length, model, { ...spec, labels }).projection;
    }
    const writer = await SnapshotWriter.open({ dataDir: path.join(tmp, 'index'), model });
    const maintainer = new RankingMaintainer(writer, { config: rankingConfig });
    await maintainer.publish({
      upserts: items.map((item) => ({
        id: item.id,
        vector: item.vector,
        colour: item.colour,
        metadata: item.metadata,
        contentHash: item.id,
      })),
      deletes: [],
      ...(projection ? { projection, projectionReplaces: null } : {}),
    });
    await maintainer.idle();
    const snapshot = (await writer.latest()) as Snapshot;
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    log(`indexed ${items.length} items in ${indexSeconds.toFixed(0)} s`);

    const visualStarted = performance.now();
    const visual = new Map<string, ShopCandidate[]>();
    for (const item of items) {
      const hits = rankedSearchById(snapshot, item.id, { k: options.candidates });
      visual.set(
        item.id,
        hits.map((h) => ({ id: h.id, similarity: h.similarity, score: h.score, metadata: h.metadata })),
      );
    }
    const visualSeconds = (performance.now() - visualStarted) / 1000;
    log(`by-id results of ${visual.size} items (top ${options.candidates}) in ${visualSeconds.toFixed(0)} s`);
    await maintainer.close();
    await writer.close();

    const experimentStarted = performance.now();
    const experimentOptions: FeedbackExperimentOptions = {
      seeds: options.seeds,
      eventCounts: options.events,
      heldOutSessions: options.heldOut,
      k: 10,
      floorQuantile: 0.05,
      slotFields: options.labelSlots
        ? [...rankingConfig.labelFields, rankingConfig.colourField ?? 'baseColour']
        : [],
    };
    const experiment = runFeedbackExperiment(items, visual, experimentOptions, log);
    return {
      ...experiment,
      slotFields: experimentOptions.slotFields,
      catalogue: catalogue.root,
      model: model.id,
      projection: formatProjectionSpec(spec),
      rankingLabelFields: [...rankingConfig.labelFields],
      seconds: {
        embed: catalogue.embedSeconds,
        index: indexSeconds,
        visual: visualSeconds,
        experiment: (performance.now() - experimentStarted) / 1000,
        total: (performance.now() - started) / 1000,
      },
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
