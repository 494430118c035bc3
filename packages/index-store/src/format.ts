import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { ModelIdentity } from './types';

/** The optional approximate index of a snapshot (see ann.ts). */
export interface ManifestAnn {
  /** faiss index_factory description, inner product. */
  factory: string;
  /** The file holding it (also listed, with its checksum, in `files`). */
  file: string;
  /** Search-time parameters it was published with (nprobe, efSearch, …). */
  parameters: Record<string, number>;
}

/**
 * On-disk layout of a data directory (shared by the writer and every reader):
 *
 *   CURRENT                       {"version":7,"manifestSha256":"…"} — the one pointer, replaced atomically
 *   snapshots/v000000000007/      one immutable directory per published version
 *     manifest.json               version, createdAt, model, dimension, count, sha256 + size of every file
 *     index.00000.faiss …         the FAISS index in shards of `shardSize` vectors (~32 MB each): each
 *                                 an IndexFlatIP exactly as faiss::write_index writes it, whose payload
 *                                 is those items' vectors (raw little-endian float32, index order).
 *                                 Shards keep each native load call short, so a serving reader's event
 *                                 loop is never blocked for a whole large index at once.
 *     items.ndjson                one {"id","metadata","contentHash","indexedAt"} per line, index order
 *     ann.faiss                   optional (INDEX_FACTORY): an approximate faiss index over the same vectors,
 *                                 labels = positions; readers search it instead of the flat shards
 *     attachments/<name>          optional extra state (learned ranking, …)
 *   writer.lock/owner.json        the writer lock (see lock.ts)
 *   fence/<token>                 fencing tokens, one file per lock acquisition
 *   retired.json                  when each old version stopped being current (for GC's grace period)
 *   tmp/                          build directories and lock candidates; removed when abandoned
 */
export const FORMAT = 'lookalike-snapshot/1';
export const POINTER_FILE = 'CURRENT';
export const SNAPSHOTS_DIR = 'snapshots';
export const TMP_DIR = 'tmp';
export const FENCE_DIR = 'fence';
export const LOCK_DIR = 'writer.lock';
export const RETIRED_FILE = 'retired.json';
export const MANIFEST_FILE = 'manifest.json';
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
export const ITEMS_FILE = 'items.ndjson';
export const ATTACHMENTS_DIR = 'attachments';

export const ATTACHMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ITEM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

const VERSION_DIGITS = 12;

export function versionDirName(version: number): string {
  return `v${String(version).padStart(VERSION_DIGITS, '0')}`;
}

export function parseVersionDirName(name: string): number | null {
  const match = /^v(\d{12})$/.exec(name);
  return match ? Number(match[1]) : null;
}

export function snapshotDir(dataDir: string, version: number): string {
  return path.join(dataDir, SNAPSHOTS_DIR, versionDirName(version));
}

export interface FileEntry {
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: string;
  version: number;
  createdAt: string;
  /** The version that was current when this one was built (null for the first). */
  basedOn: number | null;
  /** The writer's fencing token when it built this version. */
  fence: number;
  model: ModelIdentity;
  dimension: number;
  count: number;
  /** Vectors per index shard (the last shard holds the rest). */
  shardSize: number;
  metric: 'inner_product';
  /** Relative path → size and checksum, for every file of the snapshot except the manifest itself. */
  files: Record<string, FileEntry>;
  attachments: string[];
  /** Absent: flat inner product only (readers that predate it ignore the field and search flat). */
  ann?: ManifestAnn;
}

export interface Pointer {
  version: number;
  manifestSha256: string;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Parses CURRENT; throws an Error with a reason a person can act on. */
export function parsePointer(text: string): Pointer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`pointer ${POINTER_FILE} is not JSON`);
  }
  if (!isRecord(value) || !isCount(value.version) || value.version < 1)
    throw new Error(`pointer ${POINTER_FILE} has no valid version`);
  if (typeof value.manifestSha256 !== 'string' || !SHA256.test(value.manifestSha256))
    throw new Error(`pointer ${POINTER_FILE} has no valid manifestSha256`);
  return { version: value.version, manifestSha256: value.manifestSha256 };
}

export function serializePointer(pointer: Pointer): string {
  return `${JSON.stringify({ version: pointer.version, manifestSha256: pointer.manifestSha256 })}\n`;
}

function parseModel(value: unknown): ModelIdentity | null {
  if (!isRecord(value)) return null;
  const { id, sha256, dimension } = value;
  if (typeof id !== 'string' || typeof sha256 !== 'string' || !isCount(dimension)) return null;
  return { id, sha256, dimension };
}

/** Parses and structurally validates manifest.json; throws an Error whose message is the reason. */
export function parseManifest(text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('manifest is not JSON');
  }
  if (!isRecord(value)) throw new Error('manifest is not an object');
  if (value.format !== FORMAT) throw new Error(`unknown manifest format ${JSON.stringify(value.format)}`);
  const model = parseModel(value.model);
  if (!model) throw new Error('manifest has no valid model');
  const { version, createdAt, basedOn, fence, dimension, count, shardSize, metric, files, attachments } =
    value;
  if (!isCount(version) || version < 1) throw new Error('manifest has no valid version');
  if (typeof createdAt !== 'string') throw new Error('manifest has no createdAt');
  if (basedOn !== null && !isCount(basedOn)) throw new Error('manifest has no valid basedOn');
  if (!isCount(fence)) throw new Error('manifest has no valid fence');
  if (!isCount(dimension) || dimension < 1) throw new Error('manifest has no valid dimension');
  if (dimension !== model.dimension) throw new Error('manifest dimension differs from its model dimension');
  if (!isCount(count)) throw new Error('manifest has no valid count');
  if (!isCount(shardSize) || shardSize < 1) throw new Error('manifest has no valid shardSize');
  if (metric !== 'inner_product') throw new Error(`unsupported metric ${JSON.stringify(metric)}`);
  if (!isRecord(files)) throw new Error('manifest has no files');
  const fileEntries: Record<string, FileEntry> = {};
  for (const [name, entry] of Object.entries(files)) {
    if (
      !isRecord(entry) ||
      !isCount(entry.bytes) ||
      typeof entry.sha256 !== 'string' ||
      !SHA256.test(entry.sha256)
    )
      throw new Error(`manifest entry for ${name} is invalid`);
    fileEntries[name] = { bytes: entry.bytes, sha256: entry.sha256 };
  }
  if (
    !Array.isArray(attachments) ||
    !attachments.every((a) => typeof a === 'string' && ATTACHMENT_NAME.test(a))
  )
    throw new Error('manifest has no valid attachments list');
  const ann = value.ann === undefined ? undefined : parseAnn(value.ann);
  const shards = Array.from({ length: shardCount(count, shardSize) }, (_, i) => indexShardFile(i));
  for (const required of [
    ...shards,
    ITEMS_FILE,
    ...attachments.map(attachmentPath),
    ...(ann ? [ann.file] : []),
  ]) {
    if (!fileEntries[required]) throw new Error(`manifest lists no checksum for ${required}`);
  }
  return {
    ...(ann ? { ann } : {}),
    format: FORMAT,
    version,
    createdAt,
    basedOn: basedOn as number | null,
    fence,
    model,
    dimension,
    count,
    shardSize,
    metric,
    files: fileEntries,
    attachments: attachments as string[],
  };
}

function parseAnn(value: unknown): ManifestAnn {
  if (!isRecord(value)) throw new Error('manifest ann is not an object');
  const { factory, file, parameters } = value;
  if (typeof factory !== 'string' || factory === '') throw new Error('manifest ann has no factory');
  if (typeof file !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(file))
    throw new Error('manifest ann has no valid file');
  if (
    !isRecord(parameters) ||
    !Object.values(parameters).every((v) => typeof v === 'number' && Number.isFinite(v))
  )
    throw new Error('manifest ann has no valid parameters');
  return { factory, file, parameters: { ...(parameters as Record<string, number>) } };
}

export function attachmentPath(name: string): string {
  return `${ATTACHMENTS_DIR}/${name}`;
}

export function sameModel(a: ModelIdentity, b: ModelIdentity): boolean {
  return a.id === b.id && a.sha256 === b.sha256 && a.dimension === b.dimension;
}

/**
 * faiss::write_index layout of an IndexFlatIP (faiss 1.7.x): fourcc "IxFI", int32 d, int64 ntotal,
 * two int64 dummies (1 << 20), uint8 is_trained, int32 metric type (0 = inner product), then the codes
 * vector as uint64 float count + the floats. 45 bytes before the payload.
 */
export const FAISS_HEADER_BYTES = 45;
const FAISS_FOURCC_IP = 'IxFI';
const FAISS_DUMMY = 1n << 20n;

export function encodeFaissHeader(dimension: number, count: number): Buffer {
  const header = Buffer.alloc(FAISS_HEADER_BYTES);
  header.write(FAISS_FOURCC_IP, 0, 'latin1');
  header.writeInt32LE(dimension, 4);
  header.writeBigInt64LE(BigInt(count), 8);
  header.writeBigInt64LE(FAISS_DUMMY, 16);
  header.writeBigInt64LE(FAISS_DUMMY, 24);
  header.writeUInt8(1, 32);
  header.writeInt32LE(0, 33);
  header.writeBigUInt64LE(BigInt(count) * BigInt(dimension), 37);
  return header;
}

/** Returns null when the header is exactly what encodeFaissHeader would write, else the reason. */
export function checkFaissHeader(header: Buffer, dimension: number, count: number): string | null {
  if (header.length !== FAISS_HEADER_BYTES) return 'index header is truncated';
  if (header.toString('latin1', 0, 4) !== FAISS_FOURCC_IP) return 'index is not a FAISS IndexFlatIP';
  if (header.readInt32LE(4) !== dimension) return `index dimension ${header.readInt32LE(4)} ≠ ${dimension}`;
  if (header.readBigInt64LE(8) !== BigInt(count))
    return `index holds ${header.readBigInt64LE(8)} vectors ≠ ${count}`;
  if (header.readInt32LE(33) !== 0) return 'index metric is not inner product';
  if (header.readBigUInt64LE(37) !== BigInt(count) * BigInt(dimension))
    return 'index payload size is inconsistent';
  return null;
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
