import { decodeContainer, encodeContainer, RankingFormatError } from './codec';
import { project } from './lda';
import type { RankingModel } from './model';

/**
 * Every item's ranking features, keyed by id: its LDA projection (L2-normalised, `projectionDim`
 * floats; 0 without a model) and its colour histogram stored as √p quantised to a byte (the
 * Bhattacharyya similarity is then a byte dot product / 255²). Kept in the snapshot so queries by id
 * and the candidates of every query need no inference and no projection at query time.
 */
export class ItemFeatureTable {
  private readonly rows: Map<string, number>;

  constructor(
    readonly ids: readonly string[],
    readonly projectionDim: number,
    readonly projections: Float32Array,
    readonly colourDim: number,
    readonly colours: Uint8Array,
    /** 1 when the item's colour is known (items embedded before colour features have none). */
    readonly hasColour: Uint8Array,
    /** `stats.fittedAt` of the model the projections were made with (null: none). */
    readonly modelStamp: string | null,
    /** Changes to the labelled set (label added, changed or removed) since that model was fitted. */
    readonly labelChanges: number,
  ) {
    this.rows = new Map(ids.map((id, row) => [id, row]));
  }

  rowOf(id: string): number | undefined {
    return this.rows.get(id);
  }

  static empty(): ItemFeatureTable {
    return new ItemFeatureTable([], 0, new Float32Array(0), 0, new Uint8Array(0), new Uint8Array(0), null, 0);
  }
}

const ITEMS_MAGIC = 'LKRI';

export function encodeItemFeatures(table: ItemFeatureTable): Uint8Array {
  return encodeContainer(
    ITEMS_MAGIC,
    {
      ids: table.ids,
      projectionDim: table.projectionDim,
      colourDim: table.colourDim,
      modelStamp: table.modelStamp,
      labelChanges: table.labelChanges,
    },
    { projections: table.projections, colours: table.colours, hasColour: table.hasColour },
  );
}

export function decodeItemFeatures(bytes: Uint8Array): ItemFeatureTable {
  return decodeTable(ITEMS_MAGIC, bytes);
}

function decodeTable(magic: string, bytes: Uint8Array): ItemFeatureTable {
  const { header, sections } = decodeContainer(magic, bytes);
  const ids = header.ids as string[];
  const projectionDim = header.projectionDim as number;
  const colourDim = header.colourDim as number;
  const projections = sections.get('projections');
  const colours = sections.get('colours');
  const hasColour = sections.get('hasColour');
  if (
    !Array.isArray(ids) ||
    !(projections instanceof Float32Array) ||
    !(colours instanceof Uint8Array) ||
    !(hasColour instanceof Uint8Array) ||
    projections.length !== ids.length * projectionDim ||
    colours.length !== ids.length * colourDim ||
    hasColour.length !== ids.length
  )
    throw new RankingFormatError('ranking item features do not match their header');
  return new ItemFeatureTable(
    ids,
    projectionDim,
    projections,
    colourDim,
    colours,
    hasColour,
    (header.modelStamp as string | null) ?? null,
    (header.labelChanges as number) ?? 0,
  );
}

const DELTA_MAGIC = 'LKRD';

/**
 * The rows of an ItemFeatureTable changed since the full table was written: `rows` (added or replaced
 * items, their features; its modelStamp and labelChanges are the merged table's) and `deleted` (ids of
 * the full table that are gone). Same projection and colour dimensions as the full table.
 */
export interface ItemFeatureDelta {
  rows: ItemFeatureTable;
  deleted: readonly string[];
}

export function encodeItemFeatureDelta(delta: ItemFeatureDelta): Uint8Array {
  const { rows } = delta;
  return encodeContainer(
    DELTA_MAGIC,
    {
      ids: rows.ids,
      deleted: delta.deleted,
      projectionDim: rows.projectionDim,
      colourDim: rows.colourDim,
      modelStamp: rows.modelStamp,
      labelChanges: rows.labelChanges,
    },
    { projections: rows.projections, colours: rows.colours, hasColour: rows.hasColour },
  );
}

export function decodeItemFeatureDelta(bytes: Uint8Array): ItemFeatureDelta {
  const { header } = decodeContainer(DELTA_MAGIC, bytes);
  const deleted = header.deleted as string[];
  if (!Array.isArray(deleted)) throw new RankingFormatError('ranking item delta lists no deleted ids');
  return { rows: decodeTable(DELTA_MAGIC, bytes), deleted };
}

/** The full table with the delta laid over it: its rows added or replaced, its deleted ids gone. */
export function overlayItemFeatures(full: ItemFeatureTable, delta: ItemFeatureDelta): ItemFeatureTable {
  const { rows } = delta;
  if (rows.projectionDim !== full.projectionDim || rows.colourDim !== full.colourDim)
    throw new RankingFormatError('ranking item delta does not match its full table');
  const m = full.projectionDim;
  const l = full.colourDim;
  const gone = new Set(delta.deleted);
  for (const id of rows.ids) gone.add(id);
  const kept: number[] = [];
  full.ids.forEach((id, row) => {
    if (!gone.has(id)) kept.push(row);
  });
  const n = kept.length + rows.ids.length;
  const ids: string[] = new Array<string>(n);
  const projections = new Float32Array(n * m);
  const colours = new Uint8Array(n * l);
  const hasColour = new Uint8Array(n);
  kept.forEach((from, to) => {
    ids[to] = full.ids[from] as string;
    projections.set(full.projections.subarray(from * m, (from + 1) * m), to * m);
    colours.set(full.colours.subarray(from * l, (from + 1) * l), to * l);
    hasColour[to] = full.hasColour[from] as number;
  });
  const offset = kept.length;
  rows.ids.forEach((id, i) => (ids[offset + i] = id));
  projections.set(rows.projections, offset * m);
  colours.set(rows.colours, offset * l);
  hasColour.set(rows.hasColour, offset);
  return new ItemFeatureTable(ids, m, projections, l, colours, hasColour, rows.modelStamp, rows.labelChanges);
}

/** √p of an L1-normalised histogram, as bytes (0..255). */
export function quantizeColour(histogram: Float32Array, out: Uint8Array, offset: number): void {
  for (let i = 0; i < histogram.length; i++)
    out[offset + i] = Math.round(Math.sqrt(Math.max(0, histogram[i] as number)) * 255);
}

/** The normalised LDA projection of `vector` (zero vector stays zero). */
export function normalizedProjection(
  model: RankingModel,
  vector: Float32Array,
  out: Float32Array,
): Float32Array {
  const lda = model.lda;
  if (!lda) return out;
  project(lda, vector, out);
  let s = 0;
  for (let j = 0; j < out.length; j++) s += (out[j] as number) ** 2;
  const norm = Math.sqrt(s);
  if (norm > 0) for (let j = 0; j < out.length; j++) out[j] = (out[j] as number) / norm;
  return out;
}
