import os from 'node:os';
import path from 'node:path';
import { POINTER_FILE, SNAPSHOTS_DIR, pointerPath } from '@lookalike/contracts';
import { sha256Hex } from '../fsutil';

/**
 * On-disk layout of a data directory (shared by the writer and every reader). Each file kind has one
 * codec beside this file (pointer.ts, manifest.ts, segments.ts, vectors.ts, items.ts, attachments.ts,
 * ann-file.ts, retired.ts); nothing else encodes or decodes them.
 *
 *   CURRENT                       {"version":7,"manifestSha256":"…"} — the one pointer, replaced atomically
 *   snapshots/v000000000007/      one immutable directory per published version
 *     manifest.json               format "lookalike-snapshot/2": version, createdAt, basedOn, fence, model
 *                                 (the raw embedding model), dimension (the SERVED dimension), count (live
 *                                 items), projection (descriptor or null), segments, sha256 + size of every file
 *     projection.bin              only with a projection: LinearProjection.encode() (@lookalike/projection)
 *     seg.<id>.served.f32         one segment's served vectors, rows × dimension float32 LE, no header: the
 *                                 compact (projected) vectors with a projection, else the raw embeddings
 *     seg.<id>.raw.f32            only with a projection: the same rows' raw embeddings (model.dimension
 *                                 floats each), kept so a new projection can be applied without
 *                                 re-embedding. Readers (the API) never open it: their memory grows with
 *                                 the served size only. Without a projection served = raw, stored once.
 *     seg.<id>.items.ndjson       one {"id","metadata","contentHash","indexedAt","source"} per row
 *     ann.faiss                   optional (INDEX_FACTORY): an approximate faiss index over the live served
 *                                 vectors, labels = positions; readers search it instead of a flat scan
 *     attachments/<name>          optional extra state (learned ranking, …)
 *   writer.lock/owner.json        the writer lock (see publish/lock.ts)
 *   fence/<token>                 fencing tokens, one file per lock acquisition
 *   retired.json                  when each old version stopped being current (for GC's grace period)
 *   tmp/                          build directories and lock candidates; removed when abandoned
 *
 * Segments (format 2) make a small change cost about its own size. Segment files are immutable and
 * named by the version that wrote them (<id> = that version, 12 digits); a version directory lists its
 * segments in order (`manifest.segments`: id, rows, dead rows) and HARD-LINKS the files of the segments
 * it keeps from its base directory (copied instead where the file system refuses links: EXDEV, EPERM,
 * ENOTSUP — logged). A publish writes one new segment holding the upserted items (new and replaced) and
 * records the rows they replace or delete as tombstones (`dead`) of the older segments. Readers build
 * dense in-memory arrays of the live rows, segment by segment in order, so index order is: the items
 * kept, in their previous order, then the upserts in change order (a replaced item moves to the end).
 * GC removes a version directory as before: a link goes with its directory, the data lives while any
 * version still links it.
 *
 * Compaction (publish/segment-plan.ts) keeps the segment count logarithmic: the new segment absorbs
 * the newest existing segments while the next older one holds at most MERGE_RATIO × its live rows (and
 * always when more than MAX_SEGMENTS would remain), size-tiered like an LSM tree, so an item is
 * rewritten O(log n) times. A full rewrite into one segment happens when dead rows exceed
 * MAX_DEAD_FRACTION of all rows, on replaceAll, when the projection is set or cleared (every vector is
 * re-projected from the raw files), and on the first publish onto a format-1 snapshot.
 *
 * Format 1 ("lookalike-snapshot/1", still read and published on): index.<shard>.faiss (IndexFlatIP files
 * of `shardSize` vectors) + items.ndjson, no projection, no segments.
 */
export const FORMAT = 'lookalike-snapshot/2';
export const FORMAT_V1 = 'lookalike-snapshot/1';
export { POINTER_FILE, SNAPSHOTS_DIR, pointerPath };
export const TMP_DIR = 'tmp';
export const FENCE_DIR = 'fence';
export const LOCK_DIR = 'writer.lock';
export const RETIRED_FILE = 'retired.json';
export const MANIFEST_FILE = 'manifest.json';
export const ITEMS_FILE = 'items.ndjson';
export const ATTACHMENTS_DIR = 'attachments';
export const PROJECTION_FILE = 'projection.bin';

export type SegmentFileKind = 'served' | 'raw' | 'items';

/** A segment's file of one kind (see the layout above). */
export function segmentFile(segment: number, kind: SegmentFileKind): string {
  const id = String(segment).padStart(12, '0');
  return kind === 'items' ? `seg.${id}.items.ndjson` : `seg.${id}.${kind}.f32`;
}
/** The approximate index's file (see query/ann.ts). */
export const ANN_FILE = 'ann.faiss';

export const ATTACHMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ITEM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export function shardCount(count: number, shardSize: number): number {
  return Math.ceil(count / shardSize);
}

export function indexShardFile(shard: number): string {
  return `index.${String(shard).padStart(5, '0')}.faiss`;
}

export function attachmentPath(name: string): string {
  return `${ATTACHMENTS_DIR}/${name}`;
}

const VERSION_DIGITS = 12;

export function versionDirName(version: number): string {
  return `v${String(version).padStart(VERSION_DIGITS, '0')}`;
}

export function parseVersionDirName(name: string): number | null {
  const match = /^v(\d{12})$/.exec(name);
  return match ? Number(match[1]) : null;
}

export function snapshotsDir(dataDir: string): string {
  return path.join(dataDir, SNAPSHOTS_DIR);
}

export function snapshotDir(dataDir: string, version: number): string {
  return path.join(dataDir, SNAPSHOTS_DIR, versionDirName(version));
}

export function assertLittleEndian(): void {
  // The vectors are stored and viewed as raw little-endian float32 (as FAISS writes them).
  if (os.endianness() !== 'LE') throw new Error('@lookalike/index-store needs a little-endian CPU');
}

/** A short, stable tag for this host, used in temp-file names so a GC can tell whose files they are. */
export const HOST_TAG = sha256Hex(os.hostname()).slice(0, 10);

/** `<kind>.<hostTag>.<pid>.<random>` — the owner of a temp entry, readable back with parseTempName. */
export function tempName(kind: string): string {
  return `${kind}.${HOST_TAG}.${process.pid}.${Math.random().toString(36).slice(2, 10)}`;
}

export function parseTempName(name: string): { kind: string; hostTag: string; pid: number } | null {
  const match = /^([a-z-]+)\.([0-9a-f]{10})\.(\d+)\.[0-9a-z]+$/.exec(name);
  return match ? { kind: match[1] as string, hostTag: match[2] as string, pid: Number(match[3]) } : null;
}

/** Whether a process of this host is still alive (EPERM: alive but not ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
