import {
  DEFAULT_PROJECTION_SPEC,
  fitProjection,
  formatProjectionSpec,
  parseProjectionSpec,
  type LinearProjection,
} from '@lookalike/projection';
import { SnapshotWriter, type ModelIdentity, type PublishResult } from '@lookalike/index-store';
import { ClusteredVectors, syntheticItems } from './common';

/**
 * The compact configuration the suites compare with raw: snapshots written through the real
 * SnapshotWriter with a projection fitted by `fitProjection` on the catalogue's own raw vectors (what
 * the indexer does), served at the projection's dimension while the raw vectors stay in files readers
 * never open.
 */

/**
 * The projection spec of the compact rows: the product's default (DEFAULT_PROJECTION_SPEC) without
 * its LDA part. The bench's synthetic vectors carry no labels to fit LDA directions on; those replace
 * the last PCA columns (the output dimension is the same), so the served size, the search cost and
 * the publish cost are the default's — only the fit differs.
 */
export const COMPACT_SPEC: string = (() => {
  const spec = parseProjectionSpec(DEFAULT_PROJECTION_SPEC);
  return spec.kind === 'none' ? 'pca-whiten:256' : formatProjectionSpec({ ...spec, ldaDimensions: 0 });
})();

export type Configuration = 'raw' | 'compact';

/** Fits the compact projection on `count` raw vectors (row-major, model.dimension floats each). */
export function fitCompactProjection(
  raw: Float32Array,
  count: number,
  model: ModelIdentity,
  spec = COMPACT_SPEC,
): { projection: LinearProjection; fitMs: number } {
  const parsed = parseProjectionSpec(spec);
  if (parsed.kind === 'none') throw new Error(`bench: the compact spec "${spec}" is no projection`);
  const started = performance.now();
  const projection = fitProjection(raw, count, model, parsed);
  return { projection, fitMs: performance.now() - started };
}

/** A "looks"-structured synthetic catalogue of the model's raw dimension (scale suite's distribution). */
export function catalogueSpace(model: ModelIdentity, items: number, seed = 0x1234): ClusteredVectors {
  return new ClusteredVectors(model.dimension, Math.max(64, Math.round(items / 50)), seed);
}

export interface PublishedCatalogue {
  configuration: Configuration;
  items: number;
  projection: LinearProjection | null;
  fitMs: number;
  publishMs: number;
  bytesWritten: number;
  /** The served dimension (the projection's output, else the model's). */
  dimension: number;
}

/**
 * Publishes `items` items of `space` (ids item-0 …) into `dataDir`, raw or compact, in chunks of
 * `chunk` items (one publish each: a million raw vectors would not fit in memory at once). Compact:
 * the projection is fitted on the first chunk and set with the first publish. `keep` receives each
 * chunk's raw vectors (e.g. to keep them for the seed's method), else they are dropped.
 */
export async function publishCatalogue(options: {
  dataDir: string;
  model: ModelIdentity;
  space: ClusteredVectors;
  items: number;
  configuration: Configuration;
  chunk?: number;
  writerOptions?: { keepVersions?: number; gcGraceMs?: number };
  keep?: (first: number, raw: Float32Array) => void;
}): Promise<PublishedCatalogue> {
  const { dataDir, model, space, items, configuration } = options;
  const chunk = options.chunk ?? 100_000;
  const writer = await SnapshotWriter.open({ dataDir, model, ...options.writerOptions });
  let projection: LinearProjection | null = null;
  let fitMs = 0;
  let publishMs = 0;
  let bytesWritten = 0;
  try {
    for (let first = 0; first < items; first += chunk) {
      const count = Math.min(chunk, items - first);
      const raw = space.sample(count, 0x5eed + first, first);
      options.keep?.(first, raw);
      let setProjection = {};
      if (configuration === 'compact' && !projection) {
        ({ projection, fitMs } = fitCompactProjection(raw, count, model));
        setProjection = { projection, projectionReplaces: null };
      }
      const upserts = syntheticItems(raw, model.dimension).map((item, i) => ({
        ...item,
        id: `item-${first + i}`,
        contentHash: `synthetic-${first + i}`,
      }));
      const started = performance.now();
      const result: PublishResult = await writer.publish({ upserts, deletes: [], ...setProjection });
      publishMs += performance.now() - started;
      bytesWritten += result.bytesWritten;
    }
  } finally {
    await writer.close();
  }
  return {
    configuration,
    items,
    projection,
    fitMs,
    publishMs,
    bytesWritten,
    dimension: projection ? projection.outputDimension : model.dimension,
  };
}
