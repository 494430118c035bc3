import os from 'node:os';
import path from 'node:path';
import { POINTER_FILE, SNAPSHOTS_DIR, pointerPath } from '@lookalike/contracts';
import { sha256Hex } from '../fsutil';

/**
 * On-disk layout of a data directory (shared by the writer and every reader). Each file kind has one
 * codec beside this file (pointer.ts, manifest.ts, vectors.ts, items.ts, attachments.ts, ann-file.ts,
 * retired.ts); nothing else encodes or decodes them.
 *
 *   CURRENT                       {"version":7,"manifestSha256":"…"} — the one pointer, replaced atomically
 *   snapshots/v000000000007/      one immutable directory per published version
 *     manifest.json               version, createdAt, model, dimension, count, sha256 + size of every file
 *     index.00000.faiss …         the FAISS index in shards of `shardSize` vectors (~32 MB each): each
 *                                 an IndexFlatIP exactly as faiss::write_index writes it, whose payload
 *                                 is those items' vectors (raw little-endian float32, index order).
 *                                 Shards keep each native load call short, so a serving reader's event
 *                                 loop is never blocked for a whole large index at once.
 *     items.ndjson                one {"id","metadata","contentHash","indexedAt","source"} per line, index order
 *     ann.faiss                   optional (INDEX_FACTORY): an approximate faiss index over the same vectors,
 *                                 labels = positions; readers search it instead of the flat shards
 *     attachments/<name>          optional extra state (learned ranking, …)
 *   writer.lock/owner.json        the writer lock (see publish/lock.ts)
 *   fence/<token>                 fencing tokens, one file per lock acquisition
 *   retired.json                  when each old version stopped being current (for GC's grace period)
 *   tmp/                          build directories and lock candidates; removed when abandoned
 */
export const FORMAT = 'lookalike-snapshot/1';
export { POINTER_FILE, SNAPSHOTS_DIR, pointerPath };
export const TMP_DIR = 'tmp';
export const FENCE_DIR = 'fence';
export const LOCK_DIR = 'writer.lock';
export const RETIRED_FILE = 'retired.json';
export const MANIFEST_FILE = 'manifest.json';
export const ITEMS_FILE = 'items.ndjson';
export const ATTACHMENTS_DIR = 'attachments';
/** The approximate index's file (see query/ann.ts). */
export const ANN_FILE = 'ann.faiss';

export const ATTACHMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ITEM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Target bytes of vectors per index shard. */
const SHARD_BYTES = 32 * 1024 * 1024;

export function defaultShardSize(dimension: number): number {
  return Math.max(1024, Math.floor(SHARD_BYTES / (dimension * 4)));
}

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
