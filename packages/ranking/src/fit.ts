import { fitLda } from './lda';
import {
  decodeItemFeatureDelta,
  decodeItemFeatures,
  encodeItemFeatureDelta,
  encodeItemFeatures,
  ItemFeatureTable,
  overlayItemFeatures,
  type ItemFeatureDelta,
  normalizedProjection,
  quantizeColour,
} from './items';
import {
  decodeRankingModel,
  DEFAULT_WEIGHTS,
  encodeRankingModel,
  RANKING_ITEMS_ATTACHMENT,
  RANKING_ITEMS_DELTA_ATTACHMENT,
  RANKING_MODEL_ATTACHMENT,
  type RankingModel,
  type RankingWeights,
} from './model';
import type { Metadata } from '@lookalike/contracts';
import type { RankedItemInput, RankingProjector, RankingSnapshot, ServedSpace } from './ports';

export interface RankingConfig {
  /** Label fields, most important first (the first gets the LDA projection). Empty: no learning. */
  labelFields: string[];
  /** The colour label field, or null. */
  colourField: string | null;
  /** Fewer labelled items than this: no model (plain visual similarity). */
  minLabelled: number;
  /** Refit once this share of the labelled set (at the last fit) has changed. */
  refitFraction: number;
  /** …but never for fewer changed items than this. */
  refitMinChanges: number;
  ldaDimensions: number;
  ldaShrinkage: number;
  minClassSize: number;
  maxScatterSamples: number;
  weights: RankingWeights;
}

export const DEFAULT_RANKING_CONFIG: RankingConfig = {
  // subCategory's vote (weight extraLabelVote) keeps subCategory P@5 at the raw index's level on the
  // compact default (5-fold eval, README "Evaluation"); a catalogue without the field is unaffected.
  labelFields: ['articleType', 'subCategory'],
  colourField: 'baseColour',
  minLabelled: 50,
  refitFraction: 0.1,
  refitMinChanges: 20,
  ldaDimensions: 64,
  ldaShrinkage: 0.1,
  minClassSize: 2,
  maxScatterSamples: 8_000,
  weights: DEFAULT_WEIGHTS,
};

export function labelOf(metadata: Metadata | undefined, field: string): string | null {
  const value = metadata?.[field];
  if (value === undefined || value === '') return null;
  return String(value);
}

/** The training data of a fit: every item's served vector and first-field label, in snapshot order. */
export interface FitData {
  /** The served dimension (of `vectors`' rows). */
  dimension: number;
  vectors: Float32Array;
  labels: Array<string | null>;
  snapshotVersion: number | null;
  /** The served space the vectors are in (the snapshot's projection id; null or absent: raw). */
  space?: ServedSpace;
}

/** The served space of a snapshot: its projection's id, or null (raw embeddings; no snapshot). */
export function servedSpaceOf(snapshot: Pick<RankingSnapshot, 'projection'> | null | undefined): ServedSpace {
  return snapshot?.projection?.id ?? null;
}

/** The fit's data from the snapshot's served vectors (compact ones when it serves a projection). */
export function collectFitData(snapshot: RankingSnapshot, config: RankingConfig): FitData {
  const dimension = snapshot.dimension;
  const field = config.labelFields[0];
  const labels: Array<string | null> = [];
  const ids = [...snapshot.ids()];
  const vectors = new Float32Array(ids.length * dimension);
  ids.forEach((id, i) => {
    const vector = snapshot.vectorOf(id);
    if (vector) vectors.set(vector, i * dimension);
    labels.push(field === undefined ? null : labelOf(snapshot.get(id)?.metadata, field));
  });
  return { dimension, vectors, labels, snapshotVersion: snapshot.version, space: servedSpaceOf(snapshot) };
}

/**
 * Fits the ranking model: a regularised LDA on the first label field (null when fewer than two
 * classes have `minClassSize` items) plus the query-time weights. Returns null when fewer than
 * `minLabelled` items are labelled: then the catalogue keeps plain visual similarity.
 */
export function fitRankingModel(data: FitData, config: RankingConfig): RankingModel | null {
  const started = performance.now();
  const labelled = data.labels.filter((l) => l !== null).length;
  if (config.labelFields.length === 0 || labelled < config.minLabelled) return null;
  const lda = fitLda(data.vectors, data.dimension, data.labels, {
    dimensions: config.ldaDimensions,
    shrinkage: config.ldaShrinkage,
    minClassSize: config.minClassSize,
    maxScatterSamples: config.maxScatterSamples,
  });
  return {
    labelFields: [...config.labelFields],
    colourField: config.colourField,
    lda,
    weights: { ...config.weights },
    stats: {
      fittedAt: new Date().toISOString(),
      snapshotVersion: data.snapshotVersion,
      items: data.labels.length,
      labelled,
      classes: new Set(data.labels.filter((l) => l !== null)).size,
      durationMs: Math.round(performance.now() - started),
    },
    servedSpace: data.space ?? null,
  };
}

export function readRankingModel(snapshot: Pick<RankingSnapshot, 'attachment'> | null): RankingModel | null {
  const bytes = snapshot?.attachment(RANKING_MODEL_ATTACHMENT);
  return bytes ? decodeRankingModel(bytes) : null;
}

/** Every item's ranking features: the full table with the delta of later changes laid over it. */
export function readItemFeatures(snapshot: Pick<RankingSnapshot, 'attachment'> | null): ItemFeatureTable {
  const { full, delta } = readItemFeatureParts(snapshot);
  return delta ? overlayItemFeatures(full, delta) : full;
}

/** The two attachments the item features are kept in, decoded apart (null full: none yet). */
function readItemFeatureParts(snapshot: Pick<RankingSnapshot, 'attachment'> | null): {
  full: ItemFeatureTable;
  hasFull: boolean;
  delta: ItemFeatureDelta | null;
} {
  const bytes = snapshot?.attachment(RANKING_ITEMS_ATTACHMENT);
  const deltaBytes = bytes ? snapshot?.attachment(RANKING_ITEMS_DELTA_ATTACHMENT) : undefined;
  return {
    full: bytes ? decodeItemFeatures(bytes) : ItemFeatureTable.empty(),
    hasFull: bytes !== undefined,
    delta: deltaBytes ? decodeItemFeatureDelta(deltaBytes) : null,
  };
}

/**
 * A delta of at most this many rows (changed plus deleted), or 1/8 of the full table if more, is
 * published on its own; a larger one folds into a new full table. At 50,000 items (64-d LDA, 101 colour
 * bins, ~370 bytes a row) the full table is ~18 MB and the largest delta ~2.3 MB, so a small change
 * writes kilobytes and the full rewrite comes once every ~6,000 changed items.
 */
export const ITEM_DELTA_MIN_ROWS = 1024;

/**
 * The item-features attachments to publish for `table` (the new version's every row): only the rows
 * changed since the base's full table (a delta) when its layout still holds and the delta is small,
 * else the full table (and no delta).
 */
function itemFeatureAttachments(
  table: ItemFeatureTable,
  parts: ReturnType<typeof readItemFeatureParts>,
  changedIds: Iterable<string>,
  fullRewrite: boolean,
): Record<string, Uint8Array | null> {
  const { full, hasFull, delta } = parts;
  const fullTable = () => ({
    [RANKING_ITEMS_ATTACHMENT]: encodeItemFeatures(table),
    [RANKING_ITEMS_DELTA_ATTACHMENT]: null,
  });
  if (
    fullRewrite ||
    !hasFull ||
    full.projectionDim !== table.projectionDim ||
    full.colourDim !== table.colourDim ||
    full.modelStamp !== table.modelStamp
  )
    return fullTable();
  const changed = new Set<string>(delta?.rows.ids ?? []);
  for (const id of changedIds) changed.add(id);
  const deleted = full.ids.filter((id) => table.rowOf(id) === undefined);
  const rows = table.ids.filter((id) => changed.has(id) || full.rowOf(id) === undefined);
  if (rows.length + deleted.length > Math.max(ITEM_DELTA_MIN_ROWS, Math.ceil(full.ids.length / 8)))
    return fullTable();
  const m = table.projectionDim;
  const l = table.colourDim;
  const projections = new Float32Array(rows.length * m);
  const colours = new Uint8Array(rows.length * l);
  const hasColour = new Uint8Array(rows.length);
  rows.forEach((id, i) => {
    const row = table.rowOf(id) as number;
    projections.set(table.projections.subarray(row * m, (row + 1) * m), i * m);
    colours.set(table.colours.subarray(row * l, (row + 1) * l), i * l);
    hasColour[i] = table.hasColour[row] as number;
  });
  const deltaRows = new ItemFeatureTable(
    rows,
    m,
    projections,
    l,
    colours,
    hasColour,
    table.modelStamp,
    table.labelChanges,
  );
  // RANKING_ITEMS_ATTACHMENT is left out: the store carries the base's forward (hard-linked, 0 bytes).
  return { [RANKING_ITEMS_DELTA_ATTACHMENT]: encodeItemFeatureDelta({ rows: deltaRows, deleted }) };
}

/** Whether the snapshot's model is missing or stale enough to fit again, and why. */
export function refitDue(snapshot: RankingSnapshot, config: RankingConfig): string | null {
  if (config.labelFields.length === 0) return null;
  const model = readRankingModel(snapshot);
  const field = config.labelFields[0] as string;
  if (!model) {
    // Counting labels costs one pass over the metadata; only done while there is no model yet.
    let labelled = 0;
    for (const id of snapshot.ids()) if (labelOf(snapshot.get(id)?.metadata, field) !== null) labelled++;
    return labelled >= config.minLabelled ? `no model yet (${labelled} labelled items)` : null;
  }
  if (
    model.labelFields.join('\n') !== config.labelFields.join('\n') ||
    model.colourField !== config.colourField
  )
    return 'label fields changed';
  const space = servedSpaceOf(snapshot);
  if (model.servedSpace !== space)
    return `served space changed (model fitted in ${model.servedSpace ?? 'raw'}, snapshot serves ${space ?? 'raw'})`;
  const items = readItemFeatures(snapshot);
  if (!itemsMatchModel(model, items)) return 'item features were not projected with the current model';
  const changes = items.labelChanges;
  const needed = Math.max(config.refitMinChanges, Math.ceil(config.refitFraction * model.stats.labelled));
  return changes >= needed ? `${changes} labelled items changed since the last fit` : null;
}

export interface RankingChange {
  upserts: readonly RankedItemInput[];
  deletes: readonly string[];
  replaceAll?: boolean;
  /**
   * The projection the change sets (null: clears) — SnapshotChange.projection; undefined keeps the
   * base's. The version published serves vectors in this space, so upserts are projected with it.
   */
  projection?: RankingProjector | null;
}

/**
 * Whether the item features hold every item's LDA projection made with `model` (stamped with its fit
 * time). A publish that could not project them (the served space changed under the model) leaves
 * none: the ranker then falls back to plain similarity and refitDue asks for a refit.
 */
export function itemsMatchModel(model: RankingModel, items: ItemFeatureTable): boolean {
  if (!model.lda) return true;
  return items.modelStamp === model.stats.fittedAt && items.projectionDim === model.lda.dimensions;
}

/**
 * The upserts' vectors in the served space of the version being published: projected in one batch
 * with that version's projection (BLAS for many), or the raw vectors when it serves raw ones.
 */
function servedUpsertVectors(
  upserts: readonly RankedItemInput[],
  projector: RankingProjector | null,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  if (!projector) {
    for (const item of upserts) out.set(item.id, item.vector);
    return out;
  }
  if (upserts.length === 0) return out;
  const din = (upserts[0] as RankedItemInput).vector.length;
  const raw = new Float32Array(upserts.length * din);
  upserts.forEach((item, i) => {
    if (item.vector.length !== din)
      throw new RangeError(`upsert ${item.id} has ${item.vector.length} floats, expected ${din}`);
    raw.set(item.vector, i * din);
  });
  const served = projector.project(raw);
  const dout = served.length / upserts.length;
  upserts.forEach((item, i) => out.set(item.id, served.subarray(i * dout, (i + 1) * dout)));
  return out;
}

/**
 * The publish hook (SnapshotChange.deriveAttachments): the ranking attachments of the snapshot that
 * `change` applied to `base` will produce. Item features follow the items exactly (carried over,
 * added from the upserts' colour and projected with the current model, dropped with deletes); with
 * `newModel`, that model is published and every item is projected with it.
 *
 * Every LDA projection is made from a vector in the served space of the version being published:
 * upserts (raw embeddings) are first projected with that version's projection — the change's when it
 * sets or clears one, else the base's — and base items use their served vectors only when the base
 * serves the same space. A model fitted in another space is not applied: the items then carry no LDA
 * projections (colours and label counts are kept) until a refit in the new space publishes.
 */
export function deriveRankingAttachments(
  base: RankingSnapshot | null,
  change: RankingChange,
  newModel?: RankingModel | null,
): Record<string, Uint8Array | null> {
  // A full replacement is a reindex with another embedding model: the old projection means nothing
  // for the new vectors, so the model is dropped (and refitted right after).
  if (change.replaceAll && newModel === undefined) newModel = null;
  const model = newModel === undefined ? readRankingModel(base) : newModel;
  const baseParts = readItemFeatureParts(base);
  const baseTable = baseParts.delta ? overlayItemFeatures(baseParts.full, baseParts.delta) : baseParts.full;
  const projector = change.projection !== undefined ? change.projection : (base?.projector() ?? null);
  const space: ServedSpace = projector?.descriptor.id ?? null;
  // The base's served vectors are in the published space only when the change keeps the base's space.
  const baseVectorsServed = servedSpaceOf(base) === space;
  const upserts = new Map(change.upserts.map((item) => [item.id, item]));
  const deletes = new Set(change.deletes);

  const ids: string[] = [];
  if (!change.replaceAll && base)
    for (const id of base.ids()) if (!deletes.has(id) && !upserts.has(id)) ids.push(id);
  const keptCount = ids.length;
  ids.push(...upserts.keys());

  const colourDim = change.upserts.find((item) => item.colour)?.colour?.length ?? (baseTable.colourDim || 0);
  const applicable = model !== null && model.servedSpace === space;
  let projectionDim = applicable ? (model.lda?.dimensions ?? 0) : 0;
  let stamp = applicable ? model.stats.fittedAt : null;
  // Projections stamped with this model were made in its space, which is the published one.
  const reuseProjections =
    stamp !== null && baseTable.modelStamp === stamp && baseTable.projectionDim === projectionDim;
  const served =
    projectionDim > 0 ? servedUpsertVectors(change.upserts, projector) : new Map<string, Float32Array>();
  let projections = new Float32Array(ids.length * projectionDim);
  const colours = new Uint8Array(ids.length * colourDim);
  const hasColour = new Uint8Array(ids.length);
  const scratch = new Float32Array(projectionDim);
  let missing = false;

  ids.forEach((id, row) => {
    const upsert = row >= keptCount ? upserts.get(id) : undefined;
    const baseRow = upsert ? undefined : baseTable.rowOf(id);
    if (upsert?.colour && upsert.colour.length === colourDim) {
      quantizeColour(upsert.colour, colours, row * colourDim);
      hasColour[row] = 1;
    } else if (
      baseRow !== undefined &&
      baseTable.hasColour[baseRow] === 1 &&
      baseTable.colourDim === colourDim
    ) {
      colours.set(
        baseTable.colours.subarray(baseRow * colourDim, (baseRow + 1) * colourDim),
        row * colourDim,
      );
      hasColour[row] = 1;
    }
    if (!model || projectionDim === 0 || missing) return;
    if (reuseProjections && baseRow !== undefined) {
      projections.set(
        baseTable.projections.subarray(baseRow * projectionDim, (baseRow + 1) * projectionDim),
        row * projectionDim,
      );
      return;
    }
    const vector = upsert ? served.get(id) : baseVectorsServed ? base?.vectorOf(id) : undefined;
    if (!vector) {
      missing = true;
      return;
    }
    normalizedProjection(model, vector, scratch.fill(0));
    projections.set(scratch, row * projectionDim);
  });

  if (missing) {
    // An item without a vector in the model's space: no LDA projections at all rather than some.
    projectionDim = 0;
    stamp = null;
    projections = new Float32Array(0);
  }

  let labelChanges = 0;
  if (newModel === undefined) {
    labelChanges = baseTable.labelChanges;
    const field = model?.labelFields[0];
    if (field !== undefined) {
      const before = (id: string) => labelOf(base?.get(id)?.metadata, field);
      for (const [id, item] of upserts) if (labelOf(item.metadata, field) !== before(id)) labelChanges++;
      for (const id of deletes) if (before(id) !== null) labelChanges++;
      if (change.replaceAll && base)
        for (const id of base.ids()) if (!upserts.has(id) && before(id) !== null) labelChanges++;
    }
  }
  const table = new ItemFeatureTable(
    ids,
    projectionDim,
    projections,
    colourDim,
    colours,
    hasColour,
    stamp,
    labelChanges,
  );
  const out = itemFeatureAttachments(
    table,
    baseParts,
    upserts.keys(),
    change.replaceAll === true || newModel !== undefined,
  );
  if (newModel !== undefined) out[RANKING_MODEL_ATTACHMENT] = newModel ? encodeRankingModel(newModel) : null;
  return out;
}
