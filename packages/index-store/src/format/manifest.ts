import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotCorruptError } from '../errors';
import { errorMessage, hashInSlices, readFileIfExists, writeFileSynced, type WorkSlicer } from '../fsutil';
import type { ProjectionDescriptor } from '@lookalike/projection';
import type { ModelIdentity } from '../types';
import {
  ATTACHMENT_NAME,
  FORMAT,
  FORMAT_V1,
  ITEMS_FILE,
  MANIFEST_FILE,
  PROJECTION_FILE,
  attachmentPath,
  indexShardFile,
  segmentFile,
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

/** One segment of a format-2 snapshot (see layout.ts). */
export interface ManifestSegment {
  /** The version that wrote its files (they are named by it). */
  id: number;
  /** Rows in its files. */
  rows: number;
  /** Rows deleted or replaced since (tombstones), ascending. */
  dead: number[];
}

export interface Manifest {
  format: typeof FORMAT | typeof FORMAT_V1;
  version: number;
  createdAt: string;
  /** The version that was current when this one was built (null for the first). */
  basedOn: number | null;
  /** The writer's fencing token when it built this version. */
  fence: number;
  /** The raw embedding model (the projection's input). */
  model: ModelIdentity;
  /** The served (searched) dimension: projection.outputDimension with a projection, else model.dimension. */
  dimension: number;
  /** Live items. */
  count: number;
  /** Format 1 only: vectors per index shard (the last shard holds the rest); 0 in format 2. */
  shardSize: number;
  /** Format 2: the projection applied to the raw embeddings (projection.bin), or null. Format 1: null. */
  projection: ProjectionDescriptor | null;
  /** Format 2: the segments in index order. Format 1: null. */
  segments: ManifestSegment[] | null;
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

/** Parses and structurally validates manifest.json (format 1 or 2); throws an Error whose message is the reason. */
export function decodeManifest(text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('manifest is not JSON');
  }
  if (!isRecord(value)) throw new Error('manifest is not an object');
  const format = value.format;
  if (format !== FORMAT && format !== FORMAT_V1)
    throw new Error(`unknown manifest format ${JSON.stringify(format)}`);
  const model = decodeModel(value.model);
  if (!model) throw new Error('manifest has no valid model');
  const { version, createdAt, basedOn, fence, dimension, count, metric, files, attachments } = value;
  if (!isCount(version) || version < 1) throw new Error('manifest has no valid version');
  if (typeof createdAt !== 'string') throw new Error('manifest has no createdAt');
  if (basedOn !== null && !isCount(basedOn)) throw new Error('manifest has no valid basedOn');
  if (!isCount(fence)) throw new Error('manifest has no valid fence');
  if (!isCount(dimension) || dimension < 1) throw new Error('manifest has no valid dimension');
  if (!isCount(count)) throw new Error('manifest has no valid count');
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
  let shardSize = 0;
  let projection: ProjectionDescriptor | null = null;
  let segments: ManifestSegment[] | null = null;
  const required = [...attachments.map(attachmentPath), ...(ann ? [ann.file] : [])];
  if (format === FORMAT_V1) {
    if (dimension !== model.dimension) throw new Error('manifest dimension differs from its model dimension');
    if (!isCount(value.shardSize) || value.shardSize < 1) throw new Error('manifest has no valid shardSize');
    shardSize = value.shardSize;
    const shards = Array.from({ length: shardCount(count, shardSize) }, (_, i) => indexShardFile(i));
    required.push(...shards, ITEMS_FILE);
  } else {
    projection = value.projection === null ? null : decodeProjection(value.projection);
    if (projection) {
      // The projection maps this snapshot's model, nothing else: never serve it half-matching.
      if (!sameModelIdentity(projection.model, model))
        throw new Error('manifest projection was fitted for another model');
      if (projection.outputDimension !== dimension)
        throw new Error('manifest dimension differs from its projection output dimension');
      required.push(PROJECTION_FILE);
    } else if (dimension !== model.dimension)
      throw new Error('manifest dimension differs from its model dimension');
    segments = decodeSegments(value.segments);
    let live = 0;
    for (const segment of segments) {
      live += segment.rows - segment.dead.length;
      required.push(segmentFile(segment.id, 'served'), segmentFile(segment.id, 'items'));
      if (projection) required.push(segmentFile(segment.id, 'raw'));
    }
    if (live !== count) throw new Error(`manifest segments hold ${live} live rows, count says ${count}`);
  }
  for (const file of required) {
    if (!fileEntries[file]) throw new Error(`manifest lists no checksum for ${file}`);
  }
  return {
    ...(ann ? { ann } : {}),
    format,
    version,
    createdAt,
    basedOn: basedOn as number | null,
    fence,
    model,
    dimension,
    count,
    shardSize,
    projection,
    segments,
    metric,
    files: fileEntries,
    attachments: attachments as string[],
  };
}

function sameModelIdentity(a: ModelIdentity, b: ModelIdentity): boolean {
  return a.id === b.id && a.sha256 === b.sha256 && a.dimension === b.dimension;
}

function decodeProjection(value: unknown): ProjectionDescriptor {
  if (!isRecord(value)) throw new Error('manifest projection is not an object');
  const { kind, id, inputDimension, outputDimension, fittedOn, fittedAt, inputPower } = value;
  const model = decodeModel(value.model);
  if (
    typeof kind !== 'string' ||
    typeof id !== 'string' ||
    !/^[0-9a-f]{16}$/.test(id) ||
    !model ||
    !isCount(inputDimension) ||
    inputDimension !== model.dimension ||
    !isCount(outputDimension) ||
    outputDimension < 1 ||
    !isCount(fittedOn) ||
    typeof fittedAt !== 'string' ||
    typeof inputPower !== 'number' ||
    !Number.isFinite(inputPower)
  )
    throw new Error('manifest projection is not a valid projection descriptor');
  return { kind, id, model, inputDimension, outputDimension, fittedOn, fittedAt, inputPower };
}

function decodeSegments(value: unknown): ManifestSegment[] {
  if (!Array.isArray(value)) throw new Error('manifest has no segments list');
  const seen = new Set<number>();
  return value.map((entry: unknown) => {
    if (!isRecord(entry) || !isCount(entry.id) || !isCount(entry.rows) || !Array.isArray(entry.dead))
      throw new Error('manifest segment is invalid');
    const { id, rows } = entry;
    const dead = entry.dead as unknown[];
    if (seen.has(id)) throw new Error(`manifest lists segment ${id} twice`);
    seen.add(id);
    let previous = -1;
    for (const row of dead) {
      if (!isCount(row) || row <= previous || row >= rows)
        throw new Error(`manifest segment ${id} has invalid dead rows`);
      previous = row;
    }
    return { id, rows, dead: dead as number[] };
  });
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
  if (manifest.format === FORMAT_V1) {
    const { projection: _p, segments: _s, ...v1 } = manifest;
    return `${JSON.stringify(v1, null, 2)}\n`;
  }
  const { shardSize: _shardSize, ...v2 } = manifest;
  // Dead-row lists on one line each: a manifest with thousands of tombstones stays small.
  return `${JSON.stringify({ ...v2, segments: undefined }, null, 2).replace(/\n}$/, '')},\n  "segments": [${(
    manifest.segments ?? []
  )
    .map((segment) => `\n    ${JSON.stringify(segment)}`)
    .join(',')}\n  ]\n}\n`;
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
