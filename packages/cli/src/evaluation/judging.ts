import {
  perClassPrecision,
  summarize,
  type ClassPrecision,
  type JudgedQuery,
  type MetricSummary,
  type SearchHit,
} from '@lookalike/ranking';

/** A result counts as relevant under a criterion when these metadata fields all equal the query's. */
export const CRITERIA: Record<string, string[]> = {
  articleType: ['articleType'],
  subCategory: ['subCategory'],
  'articleType+baseColour': ['articleType', 'baseColour'],
};

/** Results judged per query. */
export const K = 10;

export interface EvalItem {
  id: string;
  metadata: Record<string, string>;
  imagePath: string;
  vector: Float32Array;
  colour: Float32Array;
  fold: number;
}

export interface ModeResult {
  metrics: Record<string, MetricSummary>;
  perClass: Array<ClassPrecision & { criterion: string }>;
  /** Mean query time (ranking only; the image was embedded once). */
  queryMs: number;
}

export interface EvalReport {
  catalogue: string;
  model: string;
  items: number;
  folds: number;
  seconds: { embed: number; fit: number; total: number };
  fitMsPerFold: number[];
  /** The projection the vectors went through (`none`: the raw embeddings), fitted per fold. */
  projection: {
    spec: string;
    dimension: number;
    fitSeconds: number;
    fits: Array<{
      fold: number;
      fitMs: number;
      /** Projecting the fold's train and test vectors. */
      projectMs: number;
      samples: number;
      explainedVariance: number;
      id: string;
    }>;
  };
  /** The learned ranking's label fields (most important first). */
  rankingLabelFields: string[];
  baseline: ModeResult;
  full: ModeResult;
  contactSheet: string | null;
}

/** FNV-1a of the id: the fold of an item depends on nothing but its id. */
export function foldOf(id: string, folds: number): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h % folds;
}

/** The query's label under `fields` (joined), or null when the item lacks one of them. */
export function keyOf(metadata: Record<string, string | number>, fields: string[]): string | null {
  const values = fields.map((f) => metadata[f]);
  return values.some((v) => v === undefined || v === '') ? null : values.join(' / ');
}

/** Judges one query's hits under every criterion the query has a label for. */
export function judge(
  query: EvalItem,
  hits: SearchHit[],
  counts: Map<string, Map<string, number>>,
): Record<string, JudgedQuery> {
  const judged: Record<string, JudgedQuery> = {};
  for (const [name, fields] of Object.entries(CRITERIA)) {
    const label = keyOf(query.metadata, fields);
    if (label === null) continue;
    judged[name] = {
      label,
      relevant: hits.map((h) => keyOf(h.metadata, fields) === label),
      relevantTotal: counts.get(name)?.get(label) ?? 0,
    };
  }
  return judged;
}

export function summarizeMode(judged: Record<string, JudgedQuery[]>, queryMs: number): ModeResult {
  const metrics: Record<string, MetricSummary> = {};
  const perClass: ModeResult['perClass'] = [];
  for (const [name, list] of Object.entries(judged)) {
    metrics[name] = summarize(list);
    if (name !== 'articleType+baseColour')
      perClass.push(...perClassPrecision(list).map((c) => ({ ...c, criterion: name })));
  }
  return { metrics, perClass, queryMs };
}
