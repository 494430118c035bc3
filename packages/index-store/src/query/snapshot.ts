import type { Index } from 'faiss-node';
import { FieldIndex, type FieldFacet } from '@lookalike/filter';
import type { LinearProjection, ProjectionDescriptor } from '@lookalike/projection';
import type { Manifest } from '../format/manifest';
import { InvalidQueryError } from '../errors';
import { WorkSlicer } from '../fsutil';
import type {
  Filter,
  ModelIdentity,
  SearchHit,
  SearchOptions,
  SearchOutcome,
  SearchRequest,
  Snapshot,
  StoredItem,
} from '../types';
import { checkQueryFilter } from './filter';
import { searchBatch, searchOne, type SearchSource } from './search';

export interface SnapshotParts {
  version: number;
  builtAt: string;
  basedOn: number | null;
  model: ModelIdentity;
  /** The manifest it was loaded from (or published with): its segments and file checksums, for the writer. */
  manifest: Manifest;
  /** The projection served vectors are in (its descriptor is manifest.projection), or null. */
  projection: LinearProjection | null;
  /** Index order; frozen. */
  items: StoredItem[];
  /** items.length × served dimension floats, index order. */
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

/**
 * One published version in memory: its items (index order), their positions and vectors, the
 * attachments, and the field index (@lookalike/filter) that answers filters, facets and pages.
 * Searching is in search.ts.
 */
export class SnapshotImpl implements Snapshot, SearchSource {
  readonly version: number;
  readonly count: number;
  readonly model: ModelIdentity;
  readonly dimension: number;
  readonly builtAt: string;
  readonly basedOn: number | null;
  readonly projection: ProjectionDescriptor | null;
  /** Internal: the manifest (segments, file checksums) the writer builds the next version from. */
  readonly manifest: Manifest;
  private readonly projectionValue: LinearProjection | null;
  private segmentRows: { segment: Int32Array; row: Int32Array } | null = null;
  /** Internal: index order, shared with the writer that builds the next version. */
  readonly items: readonly StoredItem[];
  readonly vectors: Float32Array;
  private readonly positions: Map<string, number>;
  private readonly attachmentFiles: Map<string, Uint8Array>;
  private readonly ann: { index: Index; factory: string } | null;
  private fieldIndex: FieldIndex | null = null;

  private constructor(
    parts: SnapshotParts,
    positions: Map<string, number>,
    ann: { index: Index; factory: string } | null,
  ) {
    this.version = parts.version;
    this.count = parts.items.length;
    this.model = Object.freeze({ ...parts.model });
    this.dimension = parts.manifest.dimension;
    this.manifest = parts.manifest;
    this.projectionValue = parts.projection;
    this.projection = parts.projection ? Object.freeze({ ...parts.projection.descriptor }) : null;
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

  get annIndex(): Index | null {
    return this.ann?.index ?? null;
  }

  /** Builds the lookup structures, yielding to the event loop every few thousand items. */
  static async create(parts: SnapshotParts, options: SnapshotBuildOptions = {}): Promise<SnapshotImpl> {
    const { items, vectors } = parts;
    const { dimension } = parts.manifest;
    if (vectors.length !== items.length * dimension)
      throw new Error(`snapshot has ${vectors.length} floats for ${items.length} items of ${dimension}`);
    const slicer = options.slicer ?? new WorkSlicer();
    const positions = new Map<string, number>();
    for (let i = 0; i < items.length; i++) {
      const id = (items[i] as StoredItem).id;
      if (positions.has(id)) throw new Error(`duplicate item id ${JSON.stringify(id)}`);
      positions.set(id, i);
      if ((i & 1023) === 1023) await slicer.maybeYield();
    }
    const snapshot = new SnapshotImpl(parts, positions, options.ann ?? null);
    if (options.eager)
      snapshot.fieldIndex = await FieldIndex.buildSliced(snapshot.metadataAt, items.length, () =>
        slicer.maybeYield(),
      );
    return snapshot;
  }

  projector(): LinearProjection | null {
    return this.projectionValue;
  }

  /**
   * Internal (writer): each position's segment (index into manifest.segments) and row in that segment's
   * files; null for a format-1 snapshot. Built on first use.
   */
  segmentRowsOf(): { segment: Int32Array; row: Int32Array } | null {
    const segments = this.manifest.segments;
    if (!segments) return null;
    if (this.segmentRows) return this.segmentRows;
    const segment = new Int32Array(this.count);
    const row = new Int32Array(this.count);
    let position = 0;
    segments.forEach((entry, index) => {
      let nextDead = 0;
      for (let r = 0; r < entry.rows; r++) {
        if (entry.dead[nextDead] === r) {
          nextDead++;
          continue;
        }
        segment[position] = index;
        row[position] = r;
        position++;
      }
    });
    this.segmentRows = { segment, row };
    return this.segmentRows;
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
    return searchOne(this, { vector, options });
  }

  searchById(id: string, options: SearchOptions): SearchHit[] {
    return searchOne(this, { id, options });
  }

  searchMany(requests: readonly SearchRequest[]): SearchOutcome[] {
    return searchBatch(this, requests);
  }

  matching(filter: Filter): Int32Array {
    return this.fields().matching(filter);
  }

  metadataFields(): Record<string, string[]> {
    return this.fields().topValues();
  }

  facets(): FieldFacet[] {
    return this.fields().facets();
  }

  page(filter: Filter | undefined, offset: number, limit: number): { total: number; items: StoredItem[] } {
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new InvalidQueryError('offset must be an integer ≥ 0');
    if (!Number.isSafeInteger(limit) || limit < 0)
      throw new InvalidQueryError('limit must be an integer ≥ 0');
    const { total, positions } = this.fields().page(checkQueryFilter(filter), offset, limit);
    return { total, items: positions.map((position) => this.itemAt(position)) };
  }

  private readonly metadataAt = (position: number) => (this.items[position] as StoredItem).metadata;

  /** The field index; a writer's snapshot builds it on the first query that needs it. */
  private fields(): FieldIndex {
    this.fieldIndex ??= FieldIndex.build(this.metadataAt, this.items.length);
    return this.fieldIndex;
  }
}
