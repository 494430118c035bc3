import { sameModel } from '@lookalike/contracts';
import { CropError, checkCrop } from '@lookalike/embedder';
import { newQueryId } from '@lookalike/events';
import { rankedSearchByIdWith, rankedSearchWith } from '@lookalike/ranking';
import type { ApiConfig } from '../config';
import { requireSnapshot } from '../context';
import { ApiError } from '../errors';
import type { ApiMetrics } from '../plugins/metrics';
import type { ApiDeps, Crop, QueryEmbedding, RankedHit, SearchOptions, SnapshotView } from '../ports';
import { checkFilterFields, parseFilter } from './filter';
import type { Admission, InferenceQueue } from './inference-queue';
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

export interface SimilarAnswer {
  /** Names this result list, so shoppers' events (POST /v1/events) can say where they came from. */
  queryId: string;
  indexVersion: number;
  model: string;
  results: RankedHit[];
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
    if (!sameModel(embedding.model, live.model)) {
      throw new ApiError(
        'MODEL_MISMATCH',
        `The index was built with ${live.model.id} but this server embeds with ${embedding.model.id}`,
        { permanent: false },
      );
    }
    this.checkFields(query, live);
    const end = this.metrics.queryDuration.startTimer({ kind: 'image' });
    const served = servedQuery(live, embedding);
    // The snapshot's learned ranking (fitted by the indexer) re-ranks its plain neighbours, if it has one.
    const results = await rankedSearchWith(live, served, query.options, (candidates) =>
      this.batcher.search(live, { vector: served.vector, options: candidates }),
    );
    end();
    return { queryId: newQueryId(), indexVersion: live.version, model: live.model.id, results };
  }

  /** The items most like a stored item (its stored vector; the item itself left out). */
  async byItem(id: string, query: QueryParams, where: string): Promise<SimilarAnswer> {
    const snapshot = requireSnapshot(this.deps);
    const parsed = this.parse(query, where);
    this.checkFields(parsed, snapshot);
    const end = this.metrics.queryDuration.startTimer({ kind: 'item' });
    const results = await rankedSearchByIdWith(snapshot, id, parsed.options, (candidates) =>
      this.batcher.search(snapshot, { id, options: candidates }),
    );
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
