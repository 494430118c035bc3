import { knnInnerProduct, type Index } from 'faiss-node';
import { InvalidQueryError, ItemNotFoundError } from '../errors';
import type { Filter, SearchHit, SearchOutcome, SearchRequest } from '../types';
import { applyFaissThreading } from './ann';
import { HitCollector, dotAt, type CollectorSource } from './hit-collector';
import { validateOptions, type ValidOptions } from './options';

// Process-wide, before any search: every faiss call of this process (writers' in-memory snapshots,
// readers, a bench's bare index) then sums in the same order, so their scores agree to the bit.
applyFaissThreading();

/**
 * A JS dot product over one stored vector costs about this many times what FAISS spends per vector in
 * a full scan (measured: ~2.4 ns vs ~0.8 ns per multiply-add at d=1280). A filtered subset smaller than
 * count / SCAN_COST_RATIO is scored directly, exactly; a larger one is over-fetched from FAISS.
 */
const SCAN_COST_RATIO = 3;
/** Over-fetch rounds before giving up (each widens ×4; the last always reaches ntotal). */
const MAX_WIDEN_ROUNDS = 16;

/** What a search reads of a snapshot. */
export interface SearchSource extends CollectorSource {
  readonly version: number;
  readonly count: number;
  /** The approximate index searched instead of the flat vectors, or null. */
  readonly annIndex: Index | null;
  positionOf(id: string): number | undefined;
  /** Positions (ascending) of the items matching every field of the filter. */
  matching(filter: Filter): Int32Array;
}

interface FaissResult {
  distances: ArrayLike<number>;
  labels: ArrayLike<number>;
}

/** A validated query and how it is answered (see planQuery). */
interface QueryPlan {
  query: Float32Array;
  options: ValidOptions;
  /** Position of the queried item (excluded from its hits), or -1. */
  exclude: number;
  /** Positions of the ids in `options.exclude` that exist (never returned either); null without any. */
  excluded: Set<number> | null;
  /** Positions matching the filter; null without one. */
  allowed: Int32Array | null;
  /** FAISS depth of the first round; 0 = no FAISS (an exact scan, or nothing matches). */
  fetch: number;
  /** The first round's FAISS result when a batch fetched it (at least `fetch` deep). */
  prefetched: FaissResult | null;
}

/** One query, by vector or by id (see Snapshot.search / searchById). */
export function searchOne(source: SearchSource, request: SearchRequest): SearchHit[] {
  return searchFrom(source, planQuery(source, request));
}

/** A batch: one FAISS call for every first round that needs one (see Snapshot.searchMany). */
export function searchBatch(source: SearchSource, requests: readonly SearchRequest[]): SearchOutcome[] {
  const plans = requests.map((request): QueryPlan | Error => {
    try {
      return planQuery(source, request);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  });
  // One FAISS call for every first round that needs one, as deep as the deepest of them.
  const batched = plans.filter((plan): plan is QueryPlan => !(plan instanceof Error) && plan.fetch > 0);
  if (batched.length > 1) {
    const queries = new Float32Array(batched.length * source.dimension);
    batched.forEach((plan, i) => queries.set(plan.query, i * source.dimension));
    const depth = Math.max(...batched.map((plan) => plan.fetch));
    faissSearch(source, queries, depth).forEach((result, i) => {
      (batched[i] as QueryPlan).prefetched = result;
    });
  }
  return plans.map((plan) => {
    if (plan instanceof Error) return { error: plan };
    try {
      return { hits: searchFrom(source, plan) };
    } catch (err) {
      return { error: err instanceof Error ? err : new Error(String(err)) };
    }
  });
}

/** Validates a query and decides how it is answered: an exact scan of a small filtered subset, or FAISS. */
function planQuery(source: SearchSource, request: SearchRequest): QueryPlan {
  const options = validateOptions(request.options);
  const { dimension, count } = source;
  let query: Float32Array;
  let exclude = -1;
  if ('vector' in request) {
    const { vector } = request;
    if (!(vector instanceof Float32Array) || vector.length !== dimension)
      throw new InvalidQueryError(`query vector must be a Float32Array of ${dimension} floats`);
    for (let j = 0; j < vector.length; j++) {
      if (!Number.isFinite(vector[j])) throw new InvalidQueryError('query vector holds a non-finite value');
    }
    query = vector;
  } else {
    const { id } = request;
    const position = typeof id === 'string' ? source.positionOf(id) : undefined;
    if (position === undefined) throw new ItemNotFoundError(String(id), source.version);
    const offset = position * dimension;
    query = source.vectors.subarray(offset, offset + dimension);
    exclude = position;
  }
  let excluded: Set<number> | null = null;
  for (const id of options.exclude) {
    const position = source.positionOf(id);
    if (position !== undefined) (excluded ??= new Set()).add(position);
  }
  const plan: QueryPlan = { query, options, exclude, excluded, allowed: null, fetch: 0, prefetched: null };
  if (count === 0) return plan;
  plan.allowed = options.filter ? source.matching(options.filter) : null;
  const { allowed } = plan;
  if (allowed && (allowed.length === 0 || allowed.length * SCAN_COST_RATIO <= count)) return plan;
  // Fetch enough that k acceptable hits are expected in the first round; searchFrom widens ×4 when not.
  const selectivity = allowed ? allowed.length / count : 1;
  const skipped = (exclude >= 0 ? 1 : 0) + (excluded?.size ?? 0);
  const wanted = (options.k + skipped) * (options.collapse !== undefined ? 2 : 1);
  plan.fetch = Math.min(count, Math.ceil((wanted * (allowed ? 1.5 : 1)) / selectivity));
  return plan;
}

/**
 * Top `k` of each query (`queries` holds n × dimension floats), best first; labels are positions in
 * the snapshot. One FAISS call for all n queries: the approximate index when there is one, else
 * faiss's exact inner-product scan run directly on the snapshot's own vectors (`knnInnerProduct`,
 * the routine IndexFlatIP.search runs), so they are held once, not copied into FAISS too.
 */
function faissSearch(source: SearchSource, queries: Float32Array, k: number): FaissResult[] {
  const n = queries.length / source.dimension;
  const depth = Math.min(k, source.count);
  const result = source.annIndex
    ? source.annIndex.search(queries, depth)
    : knnInnerProduct(queries, source.vectors, source.dimension, depth);
  return Array.from({ length: n }, (_, q) => ({
    distances: result.distances.slice(q * depth, (q + 1) * depth),
    labels: result.labels.slice(q * depth, (q + 1) * depth),
  }));
}

function searchFrom(source: SearchSource, plan: QueryPlan): SearchHit[] {
  const { query, options, exclude, excluded, allowed } = plan;
  const { count } = source;
  if (count === 0) return [];
  if (allowed && allowed.length === 0) return [];
  const collector = new HitCollector(source, options);
  if (plan.fetch === 0) {
    scan(source, query, allowed as Int32Array, exclude, excluded, collector);
    return collector.hits;
  }
  let member: Uint8Array | null = null;
  if (allowed) {
    member = new Uint8Array(count);
    for (const position of allowed) member[position] = 1;
  }
  let fetch = plan.fetch;
  const firstRound: number[] = [];
  let seen: Set<number> | null = null;
  for (let round = 0; round < MAX_WIDEN_ROUNDS; round++) {
    // A batch's first round arrives as deep as its deepest query: only this query's share is used,
    // so each answer is the one a single search gives.
    const prefetched = round === 0 ? plan.prefetched : null;
    const { distances, labels } = prefetched ?? (faissSearch(source, query, fetch)[0] as FaissResult);
    const depth = Math.min(fetch, labels.length);
    for (let i = 0; i < depth; i++) {
      const position = labels[i] as number;
      if (position < 0) break;
      if (seen) {
        if (seen.has(position)) continue;
        seen.add(position);
      } else firstRound.push(position);
      if (position === exclude || excluded?.has(position) || (member && member[position] !== 1)) continue;
      if (collector.offer(position, distances[i] as number)) return collector.hits;
    }
    if (fetch >= count) break;
    seen ??= new Set(firstRound);
    fetch = Math.min(count, fetch * 4);
  }
  return collector.hits;
}

/** Exact scoring of a small filtered subset, best first (ties: index order). */
function scan(
  source: SearchSource,
  query: Float32Array,
  allowed: Int32Array,
  exclude: number,
  excluded: Set<number> | null,
  collector: HitCollector,
): void {
  const { vectors, dimension } = source;
  const scores = new Float64Array(allowed.length);
  for (let i = 0; i < allowed.length; i++) {
    const position = allowed[i] as number;
    scores[i] =
      position === exclude ? -Infinity : Math.fround(dotAt(query, vectors, position * dimension, dimension));
  }
  const order = Array.from(allowed.keys()).sort(
    (a, b) =>
      (scores[b] as number) - (scores[a] as number) || (allowed[a] as number) - (allowed[b] as number),
  );
  for (const i of order) {
    const position = allowed[i] as number;
    if (position === exclude || excluded?.has(position)) continue;
    if (collector.offer(position, scores[i] as number)) return;
  }
}
