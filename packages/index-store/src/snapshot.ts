import { knnInnerProduct, type Index } from 'faiss-node';
import { applyFaissThreading } from './ann';

// Process-wide, before any search: every faiss call of this process (writers' in-memory snapshots,
// readers, a bench's bare index) then sums in the same order, so their scores agree to the bit.
applyFaissThreading();
import { InvalidQueryError, ItemNotFoundError } from './errors';
import { WorkSlicer } from './fsutil';
import type {
  Filter,
  ModelIdentity,
  SearchHit,
  SearchOptions,
  SearchOutcome,
  SearchRequest,
  Snapshot,
  StoredItem,
} from './types';

export const MAX_K = 100;
/** metadataFields() lists at most this many values per field (the most frequent first). */
export const FIELD_VALUES_CAP = 100;
const MAX_FILTER_FIELDS = 32;
const MAX_FILTER_VALUES = 1000;
/**
 * A JS dot product over one stored vector costs about this many times what FAISS spends per vector in
 * a full scan (measured: ~2.4 ns vs ~0.8 ns per multiply-add at d=1280). A filtered subset smaller than
 * count / SCAN_COST_RATIO is scored directly, exactly; a larger one is over-fetched from FAISS.
 */
const SCAN_COST_RATIO = 3;
/** Bound on the cosine comparisons collapse may spend on one query (a page of near-duplicates). */
const COLLAPSE_COMPARISON_BUDGET = 50_000;
/** Over-fetch rounds before giving up (each widens ×4; the last always reaches ntotal). */
const MAX_WIDEN_ROUNDS = 16;

export interface SnapshotParts {
  version: number;
  builtAt: string;
  basedOn: number | null;
  model: ModelIdentity;
  /** Vectors per shard file (the on-disk layout; searches run over all vectors at once). */
  shardSize: number;
  /** Index order; frozen. */
  items: StoredItem[];
  /** items.length × model.dimension floats, index order. */
  vectors: Float32Array;
  attachments: Map<string, Uint8Array>;
}

export interface SnapshotBuildOptions {
  /** Build the filter index now (readers) rather than on the first filtered query (writers). */
  eager?: boolean;
  /** An approximate index over the same vectors (labels = positions), searched instead of the shards. */
  ann?: { index: Index; factory: string };
  /** The loader's time budget, so building the lookups shares its yields (default: a fresh one). */
  slicer?: WorkSlicer;
}

interface FaissResult {
  distances: ArrayLike<number>;
  labels: ArrayLike<number>;
}

/** A validated query and how it is answered (see SnapshotImpl.plan). */
interface QueryPlan {
  query: Float32Array;
  options: ValidOptions;
  /** Position of the queried item (excluded from its hits), or -1. */
  exclude: number;
  /** Positions matching the filter; null without one. */
  allowed: Int32Array | null;
  /** FAISS depth of the first round; 0 = no FAISS (an exact scan, or nothing matches). */
  fetch: number;
  /** The first round's FAISS result when a batch fetched it (at least `fetch` deep). */
  prefetched: FaissResult | null;
}

function dotAt(query: Float32Array, vectors: Float32Array, offset: number, dimension: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < dimension; j += 4) {
    s0 += (query[j] as number) * (vectors[offset + j] as number);
    s1 += (query[j + 1] as number) * (vectors[offset + j + 1] as number);
    s2 += (query[j + 2] as number) * (vectors[offset + j + 2] as number);
    s3 += (query[j + 3] as number) * (vectors[offset + j + 3] as number);
  }
  for (; j < dimension; j++) s0 += (query[j] as number) * (vectors[offset + j] as number);
  return s0 + s1 + s2 + s3;
}

interface ValidOptions {
  k: number;
  filter: Filter | undefined;
  minScore: number | undefined;
  collapse: number | undefined;
}

function validateOptions(options: SearchOptions): ValidOptions {
  if (typeof options !== 'object' || options === null)
    throw new InvalidQueryError('search options are required');
  const { k, filter, minScore, collapse } = options;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K)
    throw new InvalidQueryError(`k must be an integer from 1 to ${MAX_K}, got ${String(k)}`);
  if (minScore !== undefined && (typeof minScore !== 'number' || !Number.isFinite(minScore)))
    throw new InvalidQueryError('minScore must be a finite number');
  if (collapse !== undefined && (typeof collapse !== 'number' || !(collapse > 0 && collapse <= 1)))
    throw new InvalidQueryError('collapse must be a cosine threshold in (0, 1]');
  if (filter !== undefined) {
    if (typeof filter !== 'object' || filter === null || Array.isArray(filter))
      throw new InvalidQueryError('filter must be an object of field → value or values');
    const fields = Object.keys(filter);
    if (fields.length > MAX_FILTER_FIELDS)
      throw new InvalidQueryError(`filter has ${fields.length} fields; at most ${MAX_FILTER_FIELDS}`);
    for (const [field, condition] of Object.entries(filter)) {
      const values = Array.isArray(condition) ? condition : [condition];
      if (values.length === 0)
        throw new InvalidQueryError(`filter field ${JSON.stringify(field)} has no values`);
      if (values.length > MAX_FILTER_VALUES)
        throw new InvalidQueryError(
          `filter field ${JSON.stringify(field)} has more than ${MAX_FILTER_VALUES} values`,
        );
      for (const value of values) {
        if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value)))
          throw new InvalidQueryError(
            `filter field ${JSON.stringify(field)} values must be strings or numbers`,
          );
      }
    }
  }
  return { k, filter: filter && Object.keys(filter).length > 0 ? filter : undefined, minScore, collapse };
}

/** Accepts candidates in descending score order until k are kept (or nothing better can come). */
class HitCollector {
  readonly hits: SearchHit[] = [];
  private readonly kept: Array<{ offset: number; norm: number }> = [];
  private comparisons = 0;

  constructor(
    private readonly snapshot: SnapshotImpl,
    private readonly options: ValidOptions,
  ) {}

  /** Returns true when the search can stop. */
  offer(position: number, score: number): boolean {
    const { minScore, collapse, k } = this.options;
    if (minScore !== undefined && score < minScore) return true;
    if (collapse !== undefined) {
      const { vectors, dimension } = this.snapshot;
      const offset = position * dimension;
      const candidate = vectors.subarray(offset, offset + dimension);
      const norm = Math.sqrt(dotAt(candidate, vectors, offset, dimension));
      for (const kept of this.kept) {
        if (++this.comparisons > COLLAPSE_COMPARISON_BUDGET) return true;
        const cosine =
          norm === 0 || kept.norm === 0
            ? 0
            : dotAt(candidate, vectors, kept.offset, dimension) / (norm * kept.norm);
        if (cosine >= collapse) return false;
      }
      this.kept.push({ offset, norm });
    }
    const item = this.snapshot.itemAt(position);
    this.hits.push({ id: item.id, score, metadata: item.metadata });
    return this.hits.length >= k;
  }
}

export class SnapshotImpl implements Snapshot {
  readonly version: number;
  readonly count: number;
  readonly model: ModelIdentity;
  readonly dimension: number;
  readonly builtAt: string;
  readonly basedOn: number | null;
  /** Internal: index order, shared with the writer that builds the next version. */
  readonly items: readonly StoredItem[];
  readonly vectors: Float32Array;
  private readonly positions: Map<string, number>;
  private readonly attachmentFiles: Map<string, Uint8Array>;
  private readonly ann: { index: Index; factory: string } | null;
  private filterIndex: Map<string, Map<string, Int32Array>> | null = null;
  private fieldsCache: Record<string, string[]> | null = null;

  private constructor(
    parts: SnapshotParts,
    positions: Map<string, number>,
    ann: { index: Index; factory: string } | null,
  ) {
    this.version = parts.version;
    this.count = parts.items.length;
    this.model = Object.freeze({ ...parts.model });
    this.dimension = parts.model.dimension;
    this.builtAt = parts.builtAt;
    this.basedOn = parts.basedOn;
    this.items = parts.items;
    this.vectors = parts.vectors;
    this.positions = positions;
    this.attachmentFiles = parts.attachments;
    this.ann = ann;
  }

  /** The faiss factory description of the approximate index searched, or null (exact flat search). */
  get indexFactory(): string | null {
    return this.ann?.factory ?? null;
  }

  /** Builds the lookup structures, yielding to the event loop every few thousand items. */
  static async create(parts: SnapshotParts, options: SnapshotBuildOptions = {}): Promise<SnapshotImpl> {
    const { items, vectors, model } = parts;
    if (vectors.length !== items.length * model.dimension)
      throw new Error(
        `snapshot has ${vectors.length} floats for ${items.length} items of ${model.dimension}`,
      );
    const slicer = options.slicer ?? new WorkSlicer();
    const positions = new Map<string, number>();
    for (let i = 0; i < items.length; i++) {
      const id = (items[i] as StoredItem).id;
      if (positions.has(id)) throw new Error(`duplicate item id ${JSON.stringify(id)}`);
      positions.set(id, i);
      if ((i & 1023) === 1023) await slicer.maybeYield();
    }
    const snapshot = new SnapshotImpl(parts, positions, options.ann ?? null);
    if (options.eager) await snapshot.buildFilterIndex(slicer);
    return snapshot;
  }

  get(id: string): StoredItem | undefined {
    const position = this.positions.get(id);
    return position === undefined ? undefined : this.items[position];
  }

  has(id: string): boolean {
    return this.positions.has(id);
  }

  positionOf(id: string): number | undefined {
    return this.positions.get(id);
  }

  itemAt(position: number): StoredItem {
    return this.items[position] as StoredItem;
  }

  vectorOf(id: string): Float32Array | undefined {
    const position = this.positions.get(id);
    if (position === undefined) return undefined;
    const offset = position * this.dimension;
    return this.vectors.slice(offset, offset + this.dimension);
  }

  ids(): Iterable<string> {
    const items = this.items;
    return {
      *[Symbol.iterator]() {
        for (const item of items) yield item.id;
      },
    };
  }

  attachmentNames(): string[] {
    return [...this.attachmentFiles.keys()].sort();
  }

  attachment(name: string): Uint8Array | undefined {
    return this.attachmentFiles.get(name)?.slice();
  }

  /** Internal: the attachment bytes without a copy (the writer carries them forward). */
  attachmentMap(): ReadonlyMap<string, Uint8Array> {
    return this.attachmentFiles;
  }

  search(vector: Float32Array, options: SearchOptions): SearchHit[] {
    return this.searchFrom(this.plan({ vector, options }));
  }

  searchById(id: string, options: SearchOptions): SearchHit[] {
    return this.searchFrom(this.plan({ id, options }));
  }

  searchMany(requests: readonly SearchRequest[]): SearchOutcome[] {
    const plans = requests.map((request): QueryPlan | Error => {
      try {
        return this.plan(request);
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    });
    // One FAISS call for every first round that needs one, as deep as the deepest of them.
    const batched = plans.filter((plan): plan is QueryPlan => !(plan instanceof Error) && plan.fetch > 0);
    if (batched.length > 1) {
      const queries = new Float32Array(batched.length * this.dimension);
      batched.forEach((plan, i) => queries.set(plan.query, i * this.dimension));
      const depth = Math.max(...batched.map((plan) => plan.fetch));
      this.faissSearch(queries, depth).forEach((result, i) => {
        (batched[i] as QueryPlan).prefetched = result;
      });
    }
    return plans.map((plan) => {
      if (plan instanceof Error) return { error: plan };
      try {
        return { hits: this.searchFrom(plan) };
      } catch (err) {
        return { error: err instanceof Error ? err : new Error(String(err)) };
      }
    });
  }

  /** Validates a query and decides how it is answered: an exact scan of a small filtered subset, or FAISS. */
  private plan(request: SearchRequest): QueryPlan {
    const options = validateOptions(request.options);
    let query: Float32Array;
    let exclude = -1;
    if ('vector' in request) {
      const { vector } = request;
      if (!(vector instanceof Float32Array) || vector.length !== this.dimension)
        throw new InvalidQueryError(`query vector must be a Float32Array of ${this.dimension} floats`);
      for (let j = 0; j < vector.length; j++) {
        if (!Number.isFinite(vector[j])) throw new InvalidQueryError('query vector holds a non-finite value');
      }
      query = vector;
    } else {
      const { id } = request;
      const position = typeof id === 'string' ? this.positions.get(id) : undefined;
      if (position === undefined) throw new ItemNotFoundError(String(id), this.version);
      const offset = position * this.dimension;
      query = this.vectors.subarray(offset, offset + this.dimension);
      exclude = position;
    }
    const plan: QueryPlan = { query, options, exclude, allowed: null, fetch: 0, prefetched: null };
    if (this.count === 0) return plan;
    plan.allowed = options.filter ? this.matching(options.filter) : null;
    const { allowed } = plan;
    if (allowed && (allowed.length === 0 || allowed.length * SCAN_COST_RATIO <= this.count)) return plan;
    // Fetch enough that k acceptable hits are expected in the first round; searchFrom widens ×4 when not.
    const selectivity = allowed ? allowed.length / this.count : 1;
    const wanted = (options.k + (exclude >= 0 ? 1 : 0)) * (options.collapse !== undefined ? 2 : 1);
    plan.fetch = Math.min(this.count, Math.ceil((wanted * (allowed ? 1.5 : 1)) / selectivity));
    return plan;
  }

  metadataFields(): Record<string, string[]> {
    if (this.fieldsCache) return this.fieldsCache;
    // fromEntries defines own properties, so a field named "__proto__" is just a field.
    const fields: Record<string, string[]> = Object.fromEntries(
      [...this.filterIndexSync()].map(([field, values]) => [
        field,
        [...values.entries()]
          .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          .slice(0, FIELD_VALUES_CAP)
          .map(([value]) => value),
      ]),
    );
    for (const values of Object.values(fields)) Object.freeze(values);
    this.fieldsCache = Object.freeze(fields);
    return fields;
  }

  /**
   * Top `k` of each query (`queries` holds n × dimension floats), best first; labels are positions in
   * the snapshot. One FAISS call for all n queries: the approximate index when there is one, else
   * faiss's exact inner-product scan run directly on the snapshot's own vectors (`knnInnerProduct`,
   * the routine IndexFlatIP.search runs), so they are held once, not copied into FAISS too.
   */
  private faissSearch(queries: Float32Array, k: number): FaissResult[] {
    const n = queries.length / this.dimension;
    const depth = Math.min(k, this.count);
    const result = this.ann
      ? this.ann.index.search(queries, depth)
      : knnInnerProduct(queries, this.vectors, this.dimension, depth);
    return Array.from({ length: n }, (_, q) => ({
      distances: result.distances.slice(q * depth, (q + 1) * depth),
      labels: result.labels.slice(q * depth, (q + 1) * depth),
    }));
  }

  private searchFrom(plan: QueryPlan): SearchHit[] {
    const { query, options, exclude, allowed } = plan;
    if (this.count === 0) return [];
    if (allowed && allowed.length === 0) return [];
    const collector = new HitCollector(this, options);
    if (plan.fetch === 0) {
      this.scan(query, allowed as Int32Array, exclude, collector);
      return collector.hits;
    }
    let member: Uint8Array | null = null;
    if (allowed) {
      member = new Uint8Array(this.count);
      for (const position of allowed) member[position] = 1;
    }
    let fetch = plan.fetch;
    const firstRound: number[] = [];
    let seen: Set<number> | null = null;
    for (let round = 0; round < MAX_WIDEN_ROUNDS; round++) {
      // A batch's first round arrives as deep as its deepest query: only this query's share is used,
      // so each answer is the one a single search gives.
      const prefetched = round === 0 ? plan.prefetched : null;
      const { distances, labels } = prefetched ?? (this.faissSearch(query, fetch)[0] as FaissResult);
      const depth = Math.min(fetch, labels.length);
      for (let i = 0; i < depth; i++) {
        const position = labels[i] as number;
        if (position < 0) break;
        if (seen) {
          if (seen.has(position)) continue;
          seen.add(position);
        } else firstRound.push(position);
        if (position === exclude || (member && member[position] !== 1)) continue;
        if (collector.offer(position, distances[i] as number)) return collector.hits;
      }
      if (fetch >= this.count) break;
      seen ??= new Set(firstRound);
      fetch = Math.min(this.count, fetch * 4);
    }
    return collector.hits;
  }

  /** Exact scoring of a small filtered subset, best first (ties: index order). */
  private scan(query: Float32Array, allowed: Int32Array, exclude: number, collector: HitCollector): void {
    const { vectors, dimension } = this;
    const scores = new Float64Array(allowed.length);
    for (let i = 0; i < allowed.length; i++) {
      const position = allowed[i] as number;
      scores[i] =
        position === exclude
          ? -Infinity
          : Math.fround(dotAt(query, vectors, position * dimension, dimension));
    }
    const order = Array.from(allowed.keys()).sort(
      (a, b) =>
        (scores[b] as number) - (scores[a] as number) || (allowed[a] as number) - (allowed[b] as number),
    );
    for (const i of order) {
      const position = allowed[i] as number;
      if (position === exclude) continue;
      if (collector.offer(position, scores[i] as number)) return;
    }
  }

  /** Positions (ascending) of the items matching every field of the filter. */
  private matching(filter: Filter): Int32Array {
    const index = this.filterIndexSync();
    const conditions = Object.entries(filter).map(([field, condition]) => {
      const values = (Array.isArray(condition) ? condition : [condition]).map(String);
      const lists = values
        .map((value) => index.get(field)?.get(value))
        .filter((list): list is Int32Array => list !== undefined);
      const size = lists.reduce((sum, list) => sum + list.length, 0);
      return { field, values: new Set(values), lists, size };
    });
    conditions.sort((a, b) => a.size - b.size);
    const [smallest, ...others] = conditions;
    if (!smallest || smallest.size === 0) return new Int32Array(0);
    // An item has one value per field, so the value lists of one field are disjoint.
    let positions: Int32Array;
    if (smallest.lists.length === 1) positions = smallest.lists[0] as Int32Array;
    else {
      positions = new Int32Array(smallest.size);
      let offset = 0;
      for (const list of smallest.lists) {
        positions.set(list, offset);
        offset += list.length;
      }
      positions.sort();
    }
    if (others.length === 0) return positions;
    return positions.filter((position) => {
      const metadata = (this.items[position] as StoredItem).metadata;
      return others.every((condition) => {
        const value = metadata[condition.field];
        return value !== undefined && condition.values.has(String(value));
      });
    });
  }

  /** The field → value → positions index; writers' snapshots build it on the first filtered query. */
  private filterIndexSync(): Map<string, Map<string, Int32Array>> {
    if (!this.filterIndex) {
      const building = new Map<string, Map<string, number[]>>();
      for (let i = 0; i < this.items.length; i++) this.addToIndex(building, i);
      this.filterIndex = this.freezeIndex(building);
    }
    return this.filterIndex;
  }

  private async buildFilterIndex(slicer: WorkSlicer): Promise<void> {
    const building = new Map<string, Map<string, number[]>>();
    for (let i = 0; i < this.items.length; i++) {
      this.addToIndex(building, i);
      if ((i & 1023) === 1023) await slicer.maybeYield();
    }
    this.filterIndex = this.freezeIndex(building);
  }

  private addToIndex(building: Map<string, Map<string, number[]>>, position: number): void {
    const metadata = (this.items[position] as StoredItem).metadata;
    for (const field in metadata) {
      const value = String(metadata[field]);
      let values = building.get(field);
      if (!values) building.set(field, (values = new Map()));
      const list = values.get(value);
      if (list) list.push(position);
      else values.set(value, [position]);
    }
  }

  private freezeIndex(building: Map<string, Map<string, number[]>>): Map<string, Map<string, Int32Array>> {
    const index = new Map<string, Map<string, Int32Array>>();
    for (const [field, values] of building) {
      const frozen = new Map<string, Int32Array>();
      for (const [value, list] of values) frozen.set(value, Int32Array.from(list));
      index.set(field, frozen);
    }
    return index;
  }
}
