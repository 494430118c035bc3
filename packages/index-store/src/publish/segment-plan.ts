import { statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@lookalike/config';
import type { LinearProjection } from '@lookalike/projection';
import { MANIFEST_FILE, segmentFile, snapshotDir, type SegmentFileKind } from '../format/layout';
import type { ManifestSegment } from '../format/manifest';
import { intactFile, readVectorFile } from '../format/segments';
import { WorkSlicer, yieldToEventLoop } from '../fsutil';
import type { SnapshotImpl } from '../query/snapshot';
import type { NewSegment } from './build';
import type { NextVersion } from './apply-change';

/**
 * The compaction rule (see format/layout.ts). The new segment absorbs the newest existing segment
 * while that one holds at most MERGE_RATIO × the rows merged so far (size-tiered: segment sizes grow
 * geometrically, so there are O(log n) of them and an item is rewritten O(log n) times), or while more
 * than MAX_SEGMENTS would remain. When more than MAX_DEAD_FRACTION of all rows are dead, everything is
 * rewritten into one segment (dead rows cost disk and load time, not memory: readers skip them).
 */
export const COMPACTION = { MAX_SEGMENTS: 12, MERGE_RATIO: 2, MAX_DEAD_FRACTION: 0.25 } as const;

export interface SegmentPlan {
  /** Base segments kept (linked), with their updated dead rows. */
  kept: ManifestSegment[];
  segment: NewSegment | null;
  /** Every live item's served vector, index order. */
  served: Float32Array;
  /** Whether every segment was rewritten. */
  full: boolean;
}

export interface PlanInput {
  base: SnapshotImpl | null;
  dataDir: string;
  next: NextVersion;
  projection: LinearProjection | null;
  /** The served space differs from the base's: every served vector is recomputed from its raw one. */
  projectionChanged: boolean;
  replaceAll: boolean;
  rawDimension: number;
  /** Told when a base segment's files are damaged on disk (the segment is then rewritten, not linked). */
  logger?: Logger;
}

const live = (segment: ManifestSegment) => segment.rows - segment.dead.length;

/** Decides which segments to keep and computes the new segment's rows (raw read back from the base's files where needed). */
export async function planSegments(input: PlanInput): Promise<SegmentPlan> {
  const { base, next, projection, projectionChanged, rawDimension } = input;
  const servedDimension = projection ? projection.outputDimension : rawDimension;
  const baseSegments = base?.manifest.segments ?? null;
  let full = !base || input.replaceAll || projectionChanged || baseSegments === null;
  // Base segments (index into the base's list) with the rows this change deletes or replaces added to their dead.
  let updated: Array<{ index: number; entry: ManifestSegment }> = [];
  if (base && baseSegments && !input.replaceAll) {
    const rows = base.segmentRowsOf();
    if (!rows) throw new Error('a format-2 base without segment rows');
    const dead = baseSegments.map((segment) => [...segment.dead]);
    let k = 0;
    for (let p = 0; p < base.count; p++) {
      if (next.kept[k] === p) k++;
      else (dead[rows.segment[p] as number] as number[]).push(rows.row[p] as number);
    }
    let totalRows = next.upserts.length;
    let totalDead = 0;
    updated = baseSegments.map((segment, index) => {
      const segmentDead = (dead[index] as number[]).sort((a, b) => a - b);
      totalRows += segment.rows;
      totalDead += segmentDead.length;
      return { index, entry: { id: segment.id, rows: segment.rows, dead: segmentDead } };
    });
    updated = updated.filter(({ entry }) => live(entry) > 0);
    if (totalDead > COMPACTION.MAX_DEAD_FRACTION * totalRows) full = true;
  }
  // A kept segment is hard-linked, bytes shared: one whose files were damaged on disk since (the
  // served and items rows are still good in this writer's memory) is absorbed into the new segment,
  // rewritten from memory, instead of passing the damage on to every later version.
  let firstDamaged = updated.length;
  if (!full && base && baseSegments) {
    const damaged = damagedSegments(
      input.dataDir,
      base,
      updated.map(({ entry }) => entry),
    );
    if (damaged.length > 0) {
      input.logger?.warn(
        { version: base.version, files: damaged.map((d) => d.file) },
        'files of the base snapshot are damaged on disk; rewriting their segments instead of linking them',
      );
      firstDamaged = Math.min(...damaged.map((d) => d.index));
    }
  }
  let from = 0;
  if (!full) {
    let merged = next.upserts.length;
    from = updated.length;
    while (from > 0) {
      const older = live((updated[from - 1] as { entry: ManifestSegment }).entry);
      const remaining = from + (merged > 0 ? 1 : 0);
      if (!(older <= COMPACTION.MERGE_RATIO * merged || remaining > COMPACTION.MAX_SEGMENTS)) break;
      merged += older;
      from--;
    }
    from = Math.min(from, firstDamaged);
    if (from === 0) full = true;
  }
  // next.kept[keptFrom…] are the kept rows of the absorbed segments (positions follow segment order).
  let keptFrom = 0;
  if (!full) {
    const rows = (base as SnapshotImpl).segmentRowsOf() as { segment: Int32Array };
    const firstAbsorbed = from < updated.length ? (updated[from] as { index: number }).index : Infinity;
    keptFrom = next.kept.length;
    for (let k = 0; k < next.kept.length; k++) {
      if ((rows.segment[next.kept[k] as number] as number) >= firstAbsorbed) {
        keptFrom = k;
        break;
      }
    }
  }
  const absorbed = updated.slice(from);
  const absorbedKept = next.kept.subarray(keptFrom);
  const newRows = absorbedKept.length + next.upserts.length;
  const served = new Float32Array(next.items.length * servedDimension);
  if (base && keptFrom > 0) gather(base.vectors, servedDimension, next.kept.subarray(0, keptFrom), served, 0);
  if (newRows === 0)
    return { kept: updated.slice(0, from).map(({ entry }) => entry), segment: null, served, full };

  const upsertRaw = new Float32Array(next.upserts.length * rawDimension);
  next.upserts.forEach((item, i) => upsertRaw.set(item.vector, i * rawDimension));
  // Raw vectors of the new segment: needed to store them (with a projection) or to re-project.
  let raw: Float32Array | null = null;
  if (projection || projectionChanged) {
    raw = new Float32Array(newRows * rawDimension);
    if (base && absorbedKept.length > 0) {
      if (base.projection) await readRawRows(input.dataDir, base, absorbed, raw, rawDimension);
      else gather(base.vectors, rawDimension, absorbedKept, raw, 0);
    }
    raw.set(upsertRaw, absorbedKept.length * rawDimension);
  }
  let segmentServed: Float32Array;
  if (projectionChanged) {
    segmentServed = projection
      ? await projectInSlices(projection, raw as Float32Array)
      : (raw as Float32Array);
  } else {
    segmentServed = new Float32Array(newRows * servedDimension);
    if (base) gather(base.vectors, servedDimension, absorbedKept, segmentServed, 0);
    segmentServed.set(
      projection ? await projectInSlices(projection, upsertRaw) : upsertRaw,
      absorbedKept.length * servedDimension,
    );
  }
  served.set(segmentServed, keptFrom * servedDimension);
  return {
    kept: updated.slice(0, from).map(({ entry }) => entry),
    segment: { items: next.items.slice(keptFrom), served: segmentServed, raw: projection ? raw : null },
    served,
    full,
  };
}

/** Rows projected per BLAS call: 4096 × d = 2304 floats is 38 MB in and a few hundred ms of sgemm. */
const PROJECT_SLICE_ROWS = 4096;

/**
 * `projection.projectMany(raw)` (the projection package's BLAS route) slice by slice, yielding to the
 * event loop between slices, so a full re-projection of a large catalogue does not stall the writer's
 * process (an indexer renewing job locks) for seconds at a time.
 */
async function projectInSlices(projection: LinearProjection, raw: Float32Array): Promise<Float32Array> {
  const din = projection.inputDimension;
  const dout = projection.outputDimension;
  if (raw.length % din !== 0) throw new RangeError(`raw vectors are not a multiple of ${din} floats`);
  const count = raw.length / din;
  const out = new Float32Array(count * dout);
  for (let first = 0; first < count; first += PROJECT_SLICE_ROWS) {
    const rows = Math.min(PROJECT_SLICE_ROWS, count - first);
    out.set(projection.projectMany(raw.subarray(first * din, (first + rows) * din)), first * dout);
    if (first + rows < count) await yieldToEventLoop();
  }
  return out;
}

/** Copies the rows at `positions` (ascending; contiguous runs in one copy) into `target` from row `at`. */
function gather(
  vectors: Float32Array,
  dimension: number,
  positions: Int32Array,
  target: Float32Array,
  at: number,
): void {
  let k = 0;
  while (k < positions.length) {
    let end = k + 1;
    while (end < positions.length && positions[end] === (positions[end - 1] as number) + 1) end++;
    const first = positions[k] as number;
    target.set(vectors.subarray(first * dimension, (first + end - k) * dimension), (at + k) * dimension);
    k = end;
  }
}

/** The live rows (after this change) of `segments`' raw files, verified, in order, into `target`. */
async function readRawRows(
  dataDir: string,
  base: SnapshotImpl,
  segments: ReadonlyArray<{ entry: ManifestSegment }>,
  target: Float32Array,
  dimension: number,
): Promise<void> {
  const dir = snapshotDir(dataDir, base.version);
  const slicer = new WorkSlicer();
  let at = 0;
  for (const { entry } of segments) {
    at = await readVectorFile(
      dir,
      segmentFile(entry.id, 'raw'),
      base.manifest,
      entry.rows,
      dimension,
      entry.dead,
      target,
      at,
      slicer,
    );
    await yieldToEventLoop();
  }
}

/** The kept segments (index into `segments`) with a file that no longer matches the base's manifest. */
function damagedSegments(
  dataDir: string,
  base: SnapshotImpl,
  segments: readonly ManifestSegment[],
): Array<{ index: number; file: string }> {
  const dir = snapshotDir(dataDir, base.version);
  let committedMs: number;
  try {
    committedMs = statSync(path.join(dir, MANIFEST_FILE)).mtimeMs;
  } catch {
    committedMs = -Infinity; // no manifest to date the files by: verify every one
  }
  const kinds: SegmentFileKind[] = base.projection ? ['served', 'raw', 'items'] : ['served', 'items'];
  const damaged: Array<{ index: number; file: string }> = [];
  segments.forEach((segment, index) => {
    for (const kind of kinds) {
      const file = segmentFile(segment.id, kind);
      const entry = base.manifest.files[file];
      if (!entry || !intactFile(path.join(dir, file), entry, committedMs)) damaged.push({ index, file });
    }
  });
  return damaged;
}
