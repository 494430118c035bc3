import type { ProjectionDescriptor } from '@lookalike/projection';
import { segmentFile, snapshotDir } from '../format/layout';
import { readVectorFile } from '../format/segments';
import { WorkSlicer, yieldToEventLoop } from '../fsutil';
import type { SnapshotImpl } from '../query/snapshot';
import type { ModelIdentity, StoredItem } from '../types';

export interface RawVectorsOptions {
  /**
   * Return at most this many items: an even stride over index order (deterministic, so two replicas
   * fitting the same version read the same rows). Memory is `maxRows × model.dimension × 4` bytes plus
   * one 8 MB read buffer, whatever the catalogue's size. Default: every live item.
   */
  maxRows?: number;
}

/** The raw embeddings of (a sample of) a version's live items, for fitting a projection. */
export interface RawVectors {
  /** The version they were read from (a projection fitted on them names its projection as the one it replaces). */
  version: number;
  /** When that version was published (ISO 8601): every item returned was indexed at or before it. */
  builtAt: string;
  /** Live items of that version (≥ rows). */
  count: number;
  /** Items returned. */
  rows: number;
  /** Whether rows < count (a strided sample). */
  sampled: boolean;
  /** The model the vectors are embeddings of (the snapshot's). */
  model: ModelIdentity;
  /** The projection that version serves (null: it serves these raw vectors). */
  projection: ProjectionDescriptor | null;
  /** The returned items, in index order (ids, metadata: labels for an LDA-joined fit). */
  items: StoredItem[];
  /** rows × model.dimension floats, row r = items[r]. */
  vectors: Float32Array;
}

/** Index positions of an even stride of `rows` out of `count` (all of them when rows ≥ count). */
export function samplePositions(count: number, rows: number): Int32Array {
  const take = Math.max(0, Math.min(count, rows));
  const out = new Int32Array(take);
  for (let s = 0; s < take; s++) out[s] = Math.floor((s * count) / take);
  return out;
}

/**
 * Reads the raw vectors of `snapshot`'s live items: with a projection from the segments' raw files
 * (verified against the manifest, only the sampled rows kept), else the served vectors, which are the
 * raw ones. Writer-side: readers never open raw files.
 */
export async function readRawVectors(
  dataDir: string,
  snapshot: SnapshotImpl,
  options: RawVectorsOptions = {},
): Promise<RawVectors> {
  const d = snapshot.model.dimension;
  const positions = samplePositions(snapshot.count, options.maxRows ?? snapshot.count);
  const vectors = new Float32Array(positions.length * d);
  const items = Array.from(positions, (p) => snapshot.itemAt(p));
  if (!snapshot.projection) {
    for (let s = 0; s < positions.length; s++) {
      const p = positions[s] as number;
      vectors.set(snapshot.vectors.subarray(p * d, (p + 1) * d), s * d);
      if ((s & 4095) === 4095) await yieldToEventLoop();
    }
  } else {
    const segments = snapshot.manifest.segments;
    const rowsOf = snapshot.segmentRowsOf();
    if (!segments || !rowsOf) throw new Error('a snapshot with a projection has segments');
    // Per segment: the rows wanted; every other row is passed to the reader as "dead" (skipped).
    const wanted: number[][] = segments.map(() => []);
    for (const p of positions)
      (wanted[rowsOf.segment[p] as number] as number[]).push(rowsOf.row[p] as number);
    const dir = snapshotDir(dataDir, snapshot.version);
    const slicer = new WorkSlicer();
    let at = 0;
    for (let index = 0; index < segments.length; index++) {
      const entry = segments[index] as { id: number; rows: number };
      const keep = wanted[index] as number[];
      if (keep.length === 0) continue;
      const skip: number[] = [];
      let k = 0;
      for (let r = 0; r < entry.rows; r++) {
        if (keep[k] === r) k++;
        else skip.push(r);
      }
      at = await readVectorFile(
        dir,
        segmentFile(entry.id, 'raw'),
        snapshot.manifest,
        entry.rows,
        d,
        skip,
        vectors,
        at,
        slicer,
      );
    }
    if (at !== vectors.length) throw new Error(`read ${at / d} raw rows, expected ${positions.length}`);
  }
  return {
    version: snapshot.version,
    builtAt: snapshot.builtAt,
    count: snapshot.count,
    rows: positions.length,
    sampled: positions.length < snapshot.count,
    model: { ...snapshot.model },
    projection: snapshot.projection,
    items,
    vectors,
  };
}
