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
  const { header, sections } = decodeContainer(ITEMS_MAGIC, bytes);
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
