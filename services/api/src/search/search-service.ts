import { sameModel } from '@lookalike/contracts';
import { CropError, checkCrop } from '@lookalike/embedder';
import { newQueryId } from '@lookalike/events';
import {
  blendRanking,
  feedbackActive,
  labelSlots,
  readFeedback,
  type FeedbackAttachment,
  type RankingSignal,
} from '@lookalike/feedback';
import { LearnedRanker, rankedSearchByIdWith, rankedSearchWith } from '@lookalike/ranking';
import type { ApiConfig } from '../config';
import { requireSnapshot } from '../context';
import { ApiError } from '../errors';
import type { ApiMetrics } from '../plugins/metrics';
import type {
  ApiDeps,
  Crop,
  ImageRef,
  QueryEmbedding,
  RankedHit,
  SearchOptions,
  SnapshotView,
} from '../ports';
import { checkFilterFields, parseFilter } from './filter';
import type { Admission, InferenceQueue } from './inference-queue';
import { DEFAULT_NEGATIVE_WEIGHT, DegenerateQueryError, colourQuery, rocchioQuery } from './rocchio';
import { SearchBatcher } from './search-batcher';

/** The search options of a request as clients send them (query string or body). */
export interface QueryParams {
  k?: number | undefined;
  filter?: unknown;
  minScore?: number | undefined;
  collapse?: number | undefined;
  /** Image queries only: `{ x, y, w, h }` (JSON) or `"x,y,w,h"` (a form field), both schema-checked. */
  crop?: Crop | string | undefined;
}

/** A query's options, read once: `where` is where they came from (`/query`, `/body`), for errors. */
export interface ParsedQuery {
  options: SearchOptions;
  where: string;
  /** The region of the query image to embed (image queries only). */
  crop?: Crop;
}

/**
 * The crop of a query, or undefined. The schema has checked its shape (four numbers 0–1); here the
 * rest that needs no pixels: w, h > 0 and the box inside the image (x + w ≤ 1, y + h ≤ 1), as 400
 * INVALID_CROP. Its size in pixels is checked by the embedder once the image's size is known.
 */
export function parseCrop(value: Crop | string | undefined, path: string): Crop | undefined {
  if (value === undefined) return undefined;
  let crop: Crop;
  if (typeof value === 'string') {
    const [x = NaN, y = NaN, w = NaN, h = NaN] = value.split(',').map(Number);
    crop = { x, y, w, h };
  } else {
    crop = { x: value.x, y: value.y, w: value.w, h: value.h };
  }
  try {
    checkCrop(crop);
  } catch (err) {
    if (!(err instanceof CropError)) throw err;
    throw new ApiError('INVALID_CROP', err.message, {
      details: err.details,
      fieldErrors: [{ path, message: err.message }],
    });
  }
  return crop;
}

/** One example of a multi-example query: a catalogue item, or an image to embed. */
export type Example = { id: string } | { imageUrl: string } | { imageBase64: string };

/** A multi-example query as the route hands it over (schema-checked: 1–10 positives, 0–10 negatives). */
export interface RecommendParams extends QueryParams {
  positive: readonly Example[];
  negative?: readonly Example[] | undefined;
  negativeWeight?: number | undefined;
}

/** An example of a request and where it sits in the body (for errors). */
interface PlacedExample {
  list: 'positive' | 'negative';
  index: number;
  example: Example;
}

/**
 * 404 EXAMPLE_NOT_FOUND when an example id is not in `snapshot`: every missing id, each in `errors`
 * with its place in the body, so a client can drop them all at once.
 */
function checkExamplesExist(snapshot: SnapshotView, examples: readonly PlacedExample[], where: string): void {
  const missing = examples.filter(({ example }) => 'id' in example && snapshot.get(example.id) === undefined);
  if (missing.length === 0) return;
  const ids = missing.map(({ example }) => JSON.stringify((example as { id: string }).id));
  throw new ApiError(
    'EXAMPLE_NOT_FOUND',
    `No item with id ${ids.join(', ')} in the index (version ${snapshot.version})`,
    {
      details: { ids: missing.map(({ example }) => (example as { id: string }).id) },
      fieldErrors: missing.map(({ list, index, example }) => ({
        path: `${where}/${list}/${index}/id`,
        message: `no item "${(example as { id: string }).id}" in the index`,
      })),
    },
  );
}

/** A result as served: the ranked hit and what ordered it. */
export type ServedHit = RankedHit & { signals: RankingSignal[] };

export interface SimilarAnswer {
  /** Names this result list, so shoppers' events (POST /v1/events) can say where they came from. */
  queryId: string;
  indexVersion: number;
  model: string;
  results: ServedHit[];
}

/** By-id queries: `hybrid` blends in the published shopper feedback (when there is any), `visual` never. */
export type BlendMode = 'hybrid' | 'visual';

/** The signals of results no feedback touched: the similarity, and the labels when the learned ranking moved the score. */
export function withSignals(hits: readonly RankedHit[]): ServedHit[] {
  // Field by field, not `{ ...hit, signals }`: such a spread clone outlives the young generation on
  // Node 20 (packages/ranking ranker.ts, rankedHit, says how it was measured).
  return hits.map((hit) => ({
    id: hit.id,
    score: hit.score,
    similarity: hit.similarity,
    metadata: hit.metadata,
    signals: hit.score !== hit.similarity ? ['visual', 'labels'] : ['visual'],
  }));
}

/**
 * Whether the snapshot's feedback can re-order `id`'s results: weights other than 0 and some
 * evidence about its page (pairs) or about items anywhere (item-level lifts). Otherwise the by-id
 * answer is exactly the visual one, searched exactly as without feedback.
 */
function feedbackFor(snapshot: SnapshotView, id: string, blend: BlendMode): FeedbackAttachment | null {
  if (blend === 'visual') return null;
  const feedback = readFeedback(snapshot);
  if (!feedbackActive(feedback)) return null;
  const { table } = feedback;
  return table.neighbours(id).length > 0 || table.items.size > 0 ? feedback : null;
}

/**
 * The query in the space `snapshot` serves: the raw embedding projected with that snapshot's own
 * projection (its compact, learned space), or as it is when the snapshot serves raw vectors. Always
 * the projection of the snapshot the search runs on — never one read earlier — so a hot swap to a
 * version with another projection cannot search one space with a vector of another.
 */
export function servedQuery(
  snapshot: Pick<SnapshotView, 'projector'>,
  embedding: QueryEmbedding,
): QueryEmbedding {
  const projector = snapshot.projector();
  if (!projector) return embedding;
  return { ...embedding, vector: projector.project(embedding.vector) };
}

/**
 * The similarity queries, each layer passed once: options and filter parsed once; an image query
 * takes its place in the one inference queue, is embedded, checked against the model of the live
 * snapshot (sameModel), projected into the space that snapshot serves (servedQuery) and searched with
 * the snapshot's ranking; concurrent searches share one FAISS pass (SearchBatcher). Routes only read the request and shape the answer.
 */
export class SearchService {
  private readonly batcher: SearchBatcher;

  constructor(
    private readonly config: ApiConfig,
    private readonly deps: ApiDeps,
    private readonly inference: InferenceQueue,
    private readonly metrics: ApiMetrics,
  ) {
    this.batcher = new SearchBatcher((size) => metrics.searchBatchSize.observe(size));
  }

  /** A place in the inference queue, or 503 INFERENCE_BUSY. Release it when the request ends. */
  admit(): Admission {
    return this.inference.admit();
  }

  /** Reads k, filter, minScore and collapse (K_TOO_LARGE, INVALID_FILTER); the filter is parsed here only. */
  parse(query: QueryParams, where: string): ParsedQuery {
    const k = query.k ?? 10;
    if (k > this.config.MAX_K) {
      throw new ApiError('K_TOO_LARGE', `k may be at most ${this.config.MAX_K} on this server`, {
        fieldErrors: [{ path: `${where}/k`, message: `must be <= ${this.config.MAX_K}` }],
      });
    }
    const filter = parseFilter(query.filter, `${where}/filter`);
    const options: SearchOptions = { k };
    if (filter) options.filter = filter;
    if (query.minScore !== undefined) options.minScore = query.minScore;
    if (query.collapse !== undefined) options.collapse = query.collapse;
    const crop = parseCrop(query.crop, `${where}/crop`);
    return crop ? { options, where, crop } : { options, where };
  }

  /** Refuses filter fields the snapshot does not have (UNKNOWN_FILTER_FIELD). */
  checkFields(query: ParsedQuery, snapshot: SnapshotView): void {
    checkFilterFields(query.options.filter, snapshot, `${query.where}/filter`);
  }

  /** The items most like an image, given its bytes and the admission the request holds. */
  async byImage(
    admission: Admission,
    image: Uint8Array,
    query: ParsedQuery,
    signal?: AbortSignal,
  ): Promise<SimilarAnswer> {
    const embedding = await admission.run(() => this.embed(image, query.crop), signal);
    // The newest snapshot after inference: a reload may have happened meanwhile.
    const live = requireSnapshot(this.deps);
    this.checkModel(embedding, live);
    this.checkFields(query, live);
    const end = this.metrics.queryDuration.startTimer({ kind: 'image' });
    const served = servedQuery(live, embedding);
    // The snapshot's learned ranking (fitted by the indexer) re-ranks its plain neighbours, if it has one.
    const results = await rankedSearchWith(live, served, query.options, (candidates) =>
      this.batcher.search(live, { vector: served.vector, options: candidates }),
    );
    end();
    return {
      queryId: newQueryId(),
      indexVersion: live.version,
      model: live.model.id,
      results: withSignals(results),
    };
  }

  /** The items most like a stored item (its stored vector; the item itself left out). */
  async byItem(
    id: string,
    query: QueryParams,
    where: string,
    blend: BlendMode = 'hybrid',
  ): Promise<SimilarAnswer> {
    const snapshot = requireSnapshot(this.deps);
    const parsed = this.parse(query, where);
    this.checkFields(parsed, snapshot);
    return this.byItemOn(snapshot, id, parsed, blend);
  }

  /**
   * "More like these, less like that" (POST /v1/recommend): q = normalise(mean(positive) −
   * β·mean(negative)) in the served space (rocchio.ts), searched like an image query (labels voted by
   * the neighbours), the learned ranking's colour term given the same arithmetic on the examples'
   * √colour histograms (colourQuery), every example id excluded from the results.
   *
   * One positive id and no negative is answered by the by-id path itself (byItemOn): the same results,
   * order and scores as GET /v1/items/{id}/similar, including the learned ranking's use of the item's
   * own labels — a deliberate equivalence, not a coincidence of arithmetic.
   *
   * Ids are checked (404 EXAMPLE_NOT_FOUND) before any image is fetched or embedded. Images are fetched,
   * then each takes its own place in the inference queue (`admit`, released when the response ends) and
   * is embedded like POST /v1/similar. Every vector is then read from ONE snapshot, the newest after
   * inference: ids' stored vectors and the images projected with that snapshot's own projection, so a
   * hot swap during inference never mixes two served spaces in one query.
   */
  async recommend(
    params: RecommendParams,
    admit: () => Admission,
    signal?: AbortSignal,
  ): Promise<SimilarAnswer> {
    const where = '/body';
    const parsed = this.parse(params, where);
    const beta = params.negativeWeight ?? DEFAULT_NEGATIVE_WEIGHT;
    const placed = (list: 'positive' | 'negative', examples: readonly Example[]): PlacedExample[] =>
      examples.map((example, index) => ({ list, index, example }));
    const examples = [...placed('positive', params.positive), ...placed('negative', params.negative ?? [])];
    const first = requireSnapshot(this.deps);
    this.checkFields(parsed, first);
    checkExamplesExist(first, examples, where);

    const only = params.positive[0];
    if (params.positive.length === 1 && examples.length === 1 && only && 'id' in only)
      return this.byItemOn(first, only.id, parsed);

    // Images: all bytes first (fetched, decoded from base64), then one admission each, then inference.
    const imageExamples = examples.filter(({ example }) => !('id' in example));
    const bytes = await Promise.all(
      imageExamples.map(({ example }) => this.deps.images.load(example as ImageRef, signal)),
    );
    const admissions: Admission[] = [];
    try {
      for (let i = 0; i < bytes.length; i++) admissions.push(admit());
    } catch (err) {
      // Not all of them fit: give back the places taken (release is idempotent).
      for (const admission of admissions) admission.release();
      throw err;
    }
    const embeddings = await Promise.all(
      bytes.map((image, i) => (admissions[i] as Admission).run(() => this.embed(image, undefined), signal)),
    );

    // From here on one snapshot answers: the newest, a reload may have happened during inference.
    const live = embeddings.length > 0 ? requireSnapshot(this.deps) : first;
    for (const embedding of embeddings) this.checkModel(embedding, live);
    if (live !== first) {
      this.checkFields(parsed, live);
      checkExamplesExist(live, examples, where);
    }
    const ranker = LearnedRanker.forSnapshot(live);
    const embeddingOf = new Map(imageExamples.map((placed, i) => [placed, embeddings[i] as QueryEmbedding]));
    const resolved = examples.map((placed) => {
      const { example } = placed;
      if ('id' in example) {
        const vector = live.vectorOf(example.id);
        if (!vector) throw new Error(`item ${example.id} has no vector in version ${live.version}`);
        return { list: placed.list, vector, colour: ranker?.colourOf(example.id) };
      }
      const served = servedQuery(live, embeddingOf.get(placed) as QueryEmbedding);
      return { list: placed.list, vector: served.vector, colour: served.colour };
    });
    const positives = resolved.filter((r) => r.list === 'positive');
    const negatives = resolved.filter((r) => r.list === 'negative');

    let vector: Float32Array;
    try {
      vector = rocchioQuery(
        positives.map((r) => r.vector),
        negatives.map((r) => r.vector),
        beta,
      );
    } catch (err) {
      if (!(err instanceof DegenerateQueryError)) throw err;
      throw new ApiError('DEGENERATE_QUERY', `Nothing left to search with: ${err.message}`, {
        fieldErrors: [{ path: `${where}/negativeWeight`, message: 'the examples cancel out; lower it' }],
      });
    }
    const colourRoot = colourQuery(
      positives.map((r) => r.colour),
      negatives.map((r) => r.colour),
      beta,
    );
    const exclude = [...new Set(examples.flatMap(({ example }) => ('id' in example ? [example.id] : [])))];
    const options: SearchOptions = exclude.length > 0 ? { ...parsed.options, exclude } : parsed.options;
    const end = this.metrics.queryDuration.startTimer({ kind: 'recommend' });
    const results = await rankedSearchWith(
      live,
      colourRoot ? { vector, colourRoot } : { vector },
      options,
      (candidates) => this.batcher.search(live, { vector, options: candidates }),
    );
    end();
    return {
      queryId: newQueryId(),
      indexVersion: live.version,
      model: live.model.id,
      results: withSignals(results),
    };
  }

  /** MODEL_MISMATCH (503, retried) when an embedding is not of the model `snapshot` was built with. */
  private checkModel(embedding: QueryEmbedding, snapshot: SnapshotView): void {
    if (!sameModel(embedding.model, snapshot.model)) {
      throw new ApiError(
        'MODEL_MISMATCH',
        `The index was built with ${snapshot.model.id} but this server embeds with ${embedding.model.id}`,
        { permanent: false },
      );
    }
  }

  /**
   * byItem on a given snapshot, with options already parsed and checked against it. With feedback
   * (the snapshot's published co-engagement and the weights fitted with it), the top
   * `settings.candidates` visual results are re-ordered by the blend (packages/feedback blend.ts:
   * within label slots, never promoting an item below the visual floor) and the first k returned.
   */
  private async byItemOn(
    snapshot: SnapshotView,
    id: string,
    parsed: ParsedQuery,
    blend: BlendMode = 'hybrid',
  ): Promise<SimilarAnswer> {
    const end = this.metrics.queryDuration.startTimer({ kind: 'item' });
    const feedback = feedbackFor(snapshot, id, blend);
    const { k } = parsed.options;
    const options = feedback
      ? { ...parsed.options, k: Math.max(k, feedback.settings.candidates) }
      : parsed.options;
    const hits = await rankedSearchByIdWith(snapshot, id, options, (candidates) =>
      this.batcher.search(snapshot, { id, options: candidates }),
    );
    const results: ServedHit[] = feedback
      ? blendRanking(
          id,
          hits,
          feedback.table,
          feedback.blend,
          labelSlots<RankedHit>(snapshot.get(id)?.metadata, feedback.settings.slotFields),
        )
          .slice(0, k)
          .map(({ feedback: _term, ...hit }) => hit)
      : withSignals(hits);
    end();
    return { queryId: newQueryId(), indexVersion: snapshot.version, model: snapshot.model.id, results };
  }

  private async embed(image: Uint8Array, crop: Crop | undefined): Promise<QueryEmbedding> {
    const end = this.metrics.inferenceDuration.startTimer();
    try {
      const embedding = await this.deps.embedder.embed(image, crop ? { crop } : {});
      end({ outcome: 'ok' });
      return embedding;
    } catch (err) {
      end({ outcome: 'error' });
      throw err;
    }
  }
}
