import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotCorruptError } from '../errors';
import { errorMessage, hashInSlices, readFileIfExists, writeFileSynced, type WorkSlicer } from '../fsutil';
import type { ModelIdentity } from '../types';
import {
  ATTACHMENT_NAME,
  FORMAT,
  ITEMS_FILE,
  MANIFEST_FILE,
  attachmentPath,
  indexShardFile,
  shardCount,
} from './layout';

/** The optional approximate index of a snapshot (see query/ann.ts). */
export interface ManifestAnn {
  /** faiss index_factory description, inner product. */
  factory: string;
  /** The file holding it (also listed, with its checksum, in `files`). */
  file: string;
  /** Search-time parameters it was published with (nprobe, efSearch, …). */
  parameters: Record<string, number>;
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

const SHA256 = /^[0-9a-f]{64}$/;

function decodeModel(value: unknown): ModelIdentity | null {
  if (!isRecord(value)) return null;
  const { id, sha256, dimension } = value;
  if (typeof id !== 'string' || typeof sha256 !== 'string' || !isCount(dimension)) return null;
  return { id, sha256, dimension };
}

/** Parses and structurally validates manifest.json; throws an Error whose message is the reason. */
export function decodeManifest(text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('manifest is not JSON');
  }
  if (!isRecord(value)) throw new Error('manifest is not an object');
  if (value.format !== FORMAT) throw new Error(`unknown manifest format ${JSON.stringify(value.format)}`);
  const model = decodeModel(value.model);
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
  const ann = value.ann === undefined ? undefined : decodeAnn(value.ann);
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

function decodeAnn(value: unknown): ManifestAnn {
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

export function encodeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Writes and fsyncs `dir`/manifest.json (`afterWrite`: a crash-test step); returns its text. */
export async function writeManifest(
  dir: string,
  manifest: Manifest,
  afterWrite?: () => Promise<void>,
): Promise<string> {
  const text = encodeManifest(manifest);
  await writeFileSynced(path.join(dir, MANIFEST_FILE), [Buffer.from(text)], afterWrite);
  return text;
}

/** The manifest of a snapshot directory as it is on disk (no checksum check); null when there is none. */
export async function readManifestIfExists(dir: string): Promise<Manifest | null> {
  const text = await readFileIfExists(path.join(dir, MANIFEST_FILE));
  return text ? decodeManifest(text.toString('utf8')) : null;
}

/** A file the manifest lists, read whole and verified against its size and sha256. */
export async function readListedFile(
  dir: string,
  relative: string,
  manifest: Manifest,
  slicer: WorkSlicer,
): Promise<Buffer> {
  const expected = manifest.files[relative];
  if (!expected) throw new SnapshotCorruptError(manifest.version, `no checksum for ${relative}`);
  let data: Buffer;
  try {
    // One synchronous read: fsp.readFile reads 512 KiB per event-loop turn (16 turns for an 8 MB items file).
    data = readFileSync(path.join(dir, relative));
  } catch (err) {
    throw new SnapshotCorruptError(manifest.version, `cannot read ${relative}: ${errorMessage(err)}`, err);
  }
  if (data.length !== expected.bytes)
    throw new SnapshotCorruptError(
      manifest.version,
      `${relative} is ${data.length} bytes, expected ${expected.bytes}`,
    );
  const hash = createHash('sha256');
  await hashInSlices(hash, data, slicer);
  if (hash.digest('hex') !== expected.sha256)
    throw new SnapshotCorruptError(manifest.version, `${relative} checksum mismatch`);
  return data;
}
