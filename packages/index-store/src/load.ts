import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, promises as fsp, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { Index } from 'faiss-node';
import { applySearchParameters, hashAndSyncFile, type SearchParameters } from './ann';
import { ModelMismatchError, SnapshotCorruptError, SnapshotNotFoundError } from './errors';
import {
  FAISS_HEADER_BYTES,
  ITEMS_FILE,
  MANIFEST_FILE,
  assertLittleEndian,
  attachmentPath,
  checkFaissHeader,
  indexShardFile,
  parseManifest,
  sameModel,
  sha256Hex,
  shardCount,
  snapshotDir,
  type Manifest,
} from './format';
import { WorkSlicer, errorMessage, hashInSlices, isErrno } from './fsutil';
import { SnapshotImpl } from './snapshot';
import { isItemSource } from '@lookalike/contracts';
import type { ItemSource, Metadata, ModelIdentity, StoredItem } from './types';

const READ_CHUNK_BYTES = 8 * 1024 * 1024;

export interface LoadOptions {
  /** The manifest checksum the pointer names; the manifest must match it. */
  expectedManifestSha256?: string;
  /** Reject the snapshot unless its model (id, sha256, dimension) is this one. */
  expectedModel?: ModelIdentity;
  /** Load the approximate index (`manifest.ann`) now (readers); the flat vectors need no FAISS index. */
  loadFaiss: boolean;
  /** Build the filter index now. */
  eager: boolean;
  /** Overrides the search parameters an approximate index was published with (nprobe, efSearch, …). */
  searchParameters?: SearchParameters;
}

function corrupt(version: number, reason: string, cause?: unknown): SnapshotCorruptError {
  return new SnapshotCorruptError(version, reason, cause);
}

/**
 * Loads one snapshot directory and verifies everything before anything is used: the manifest against
 * the pointer's checksum, every file's size and sha256 against the manifest, the FAISS header against
 * the manifest's dimension and count, each item record's shape. Reads in chunks and yields, so a
 * serving process keeps answering while a large snapshot loads.
 */
export async function loadSnapshot(
  dataDir: string,
  version: number,
  options: LoadOptions,
): Promise<SnapshotImpl> {
  assertLittleEndian();
  const dir = snapshotDir(dataDir, version);
  let manifestBytes: Buffer;
  try {
    manifestBytes = await fsp.readFile(path.join(dir, MANIFEST_FILE));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) {
      const dirExists = await fsp.stat(dir).then(
        () => true,
        () => false,
      );
      if (!dirExists) throw new SnapshotNotFoundError(version);
      throw corrupt(version, 'manifest.json is missing (half-written snapshot)', err);
    }
    throw corrupt(version, `cannot read manifest: ${errorMessage(err)}`, err);
  }
  if (
    options.expectedManifestSha256 !== undefined &&
    sha256Hex(manifestBytes) !== options.expectedManifestSha256
  )
    throw corrupt(version, 'manifest checksum does not match the pointer');
  let manifest: Manifest;
  try {
    manifest = parseManifest(manifestBytes.toString('utf8'));
  } catch (err) {
    throw corrupt(version, errorMessage(err), err);
  }
  if (manifest.version !== version)
    throw corrupt(version, `manifest says version ${manifest.version}, directory says ${version}`);
  if (options.expectedModel && !sameModel(manifest.model, options.expectedModel)) {
    throw new ModelMismatchError(
      `Snapshot version ${version} was built with model ${manifest.model.id} (${manifest.model.sha256.slice(0, 12)}…, ` +
        `d=${manifest.model.dimension}), not ${options.expectedModel.id} (${options.expectedModel.sha256.slice(0, 12)}…, ` +
        `d=${options.expectedModel.dimension})`,
      { version, snapshotModel: manifest.model, expectedModel: options.expectedModel },
    );
  }

  // One time budget for the whole load: it yields every ~40 ms of work, not after every step.
  const slicer = new WorkSlicer();
  try {
    const vectors = await readVectors(dir, manifest, slicer);
    const items = await readItems(dir, manifest, slicer);
    const attachments = new Map<string, Uint8Array>();
    for (const name of manifest.attachments)
      attachments.set(name, await readVerified(dir, attachmentPath(name), manifest, slicer));
    let ann: { index: Index; factory: string } | undefined;
    if (options.loadFaiss && manifest.ann) {
      // The approximate index is searched instead of the flat vectors.
      const { file, factory, parameters } = manifest.ann;
      const expected = manifest.files[file];
      const actual = await hashAndSyncFile(path.join(dir, file)).catch((err: unknown) => {
        throw corrupt(version, `cannot read ${file}: ${errorMessage(err)}`, err);
      });
      if (!expected || actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256)
        throw corrupt(version, `${file} checksum mismatch`);
      const index = Index.read(path.join(dir, file));
      if (index.ntotal() !== manifest.count || index.getDimension() !== manifest.dimension)
        throw corrupt(version, `${file} does not hold the snapshot's ${manifest.count} vectors`);
      applySearchParameters(index, { ...parameters, ...(options.searchParameters ?? {}) }, factory);
      ann = { index, factory };
    }
    return await SnapshotImpl.create(
      {
        version,
        builtAt: manifest.createdAt,
        basedOn: manifest.basedOn,
        model: manifest.model,
        shardSize: manifest.shardSize,
        items,
        vectors,
        attachments,
      },
      { ...(ann ? { ann } : {}), eager: options.eager, slicer },
    );
  } catch (err) {
    if (err instanceof SnapshotCorruptError) throw err;
    throw corrupt(version, errorMessage(err), err);
  }
}

async function readVectors(dir: string, manifest: Manifest, slicer: WorkSlicer): Promise<Float32Array> {
  const { dimension, count, shardSize } = manifest;
  const vectors = new Float32Array(count * dimension);
  for (let shard = 0; shard < shardCount(count, shardSize); shard++) {
    const first = shard * shardSize;
    const shardItems = Math.min(shardSize, count - first);
    const view = new Uint8Array(vectors.buffer, first * dimension * 4, shardItems * dimension * 4);
    await readShard(dir, indexShardFile(shard), manifest, shardItems, view, slicer);
  }
  return vectors;
}

/**
 * Reads one index shard straight into (aligned) vector memory, checking size, header and checksum.
 * Synchronous reads of 8 MB steps (a few ms each from the page cache, like FAISS's own read of the same
 * file right after) with time-sliced yields: an awaited read per step cost a whole event-loop turn each,
 * which on a busy server is the time of every request queued meanwhile.
 */
async function readShard(
  dir: string,
  file: string,
  manifest: Manifest,
  shardItems: number,
  target: Uint8Array,
  slicer: WorkSlicer,
): Promise<void> {
  const expected = manifest.files[file];
  if (!expected || expected.bytes !== FAISS_HEADER_BYTES + target.length)
    throw corrupt(
      manifest.version,
      `${file} size in manifest does not fit ${shardItems} × ${manifest.dimension} floats`,
    );
  const fd = openSync(path.join(dir, file), 'r');
  try {
    const { size } = fstatSync(fd);
    if (size !== expected.bytes)
      throw corrupt(manifest.version, `${file} is ${size} bytes, expected ${expected.bytes}`);
    const header = Buffer.alloc(FAISS_HEADER_BYTES);
    readFully(fd, header, 0);
    const headerProblem = checkFaissHeader(header, manifest.dimension, shardItems);
    if (headerProblem) throw corrupt(manifest.version, `${file}: ${headerProblem}`);
    const hash = createHash('sha256').update(header);
    // The payload starts at an odd file offset; reading into the Float32Array's bytes keeps it aligned.
    for (let offset = 0; offset < target.length; offset += READ_CHUNK_BYTES) {
      const chunk = target.subarray(offset, Math.min(target.length, offset + READ_CHUNK_BYTES));
      readFully(fd, chunk, FAISS_HEADER_BYTES + offset);
      hash.update(chunk);
      await slicer.maybeYield();
    }
    if (hash.digest('hex') !== expected.sha256) throw corrupt(manifest.version, `${file} checksum mismatch`);
  } finally {
    closeSync(fd);
  }
}

function readFully(fd: number, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    const bytesRead = readSync(fd, target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new Error('unexpected end of file');
    done += bytesRead;
  }
}

async function readVerified(
  dir: string,
  relative: string,
  manifest: Manifest,
  slicer: WorkSlicer,
): Promise<Buffer> {
  const expected = manifest.files[relative];
  if (!expected) throw corrupt(manifest.version, `no checksum for ${relative}`);
  let data: Buffer;
  try {
    // One synchronous read: fsp.readFile reads 512 KiB per event-loop turn (16 turns for an 8 MB items file).
    data = readFileSync(path.join(dir, relative));
  } catch (err) {
    throw corrupt(manifest.version, `cannot read ${relative}: ${errorMessage(err)}`, err);
  }
  if (data.length !== expected.bytes)
    throw corrupt(manifest.version, `${relative} is ${data.length} bytes, expected ${expected.bytes}`);
  const hash = createHash('sha256');
  await hashInSlices(hash, data, slicer);
  if (hash.digest('hex') !== expected.sha256)
    throw corrupt(manifest.version, `${relative} checksum mismatch`);
  return data;
}

function isMetadata(value: unknown): value is Metadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const field in value) {
    const v = (value as Record<string, unknown>)[field];
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) return false;
  }
  return true;
}

/**
 * Snapshots written before items had a `source` field kept it in the metadata as `_source`
 * (`url:<imageUrl>`, `path:<imagePath>` or `blob:<sha256>`): read such a record as if it had been
 * written now, so the API never shows the bookkeeping and a reindex still finds the image.
 */
export function legacySource(metadata: Metadata): { metadata: Metadata; source: ItemSource | null } | null {
  const value = metadata[LEGACY_SOURCE_KEY];
  if (value === undefined) return null;
  const { [LEGACY_SOURCE_KEY]: _legacy, ...rest } = metadata;
  if (typeof value !== 'string') return { metadata: rest, source: null };
  const colon = value.indexOf(':');
  const kind = value.slice(0, colon);
  const rest2 = value.slice(colon + 1);
  const source: unknown =
    colon < 0
      ? null
      : kind === 'url'
        ? { imageUrl: rest2 }
        : kind === 'path'
          ? { imagePath: rest2 }
          : kind === 'blob'
            ? { blob: rest2 }
            : null;
  return { metadata: rest, source: isItemSource(source) ? source : null };
}

const LEGACY_SOURCE_KEY = '_source';

async function readItems(dir: string, manifest: Manifest, slicer: WorkSlicer): Promise<StoredItem[]> {
  const data = await readVerified(dir, ITEMS_FILE, manifest, slicer);
  const items: StoredItem[] = new Array<StoredItem>(manifest.count);
  let start = 0;
  for (let i = 0; i < manifest.count; i++) {
    const end = data.indexOf(10, start);
    if (end < 0)
      throw corrupt(manifest.version, `${ITEMS_FILE} has ${i} records, expected ${manifest.count}`);
    let record: unknown;
    try {
      record = JSON.parse(data.toString('utf8', start, end));
    } catch {
      throw corrupt(manifest.version, `${ITEMS_FILE} line ${i + 1} is not JSON`);
    }
    const { id, metadata, contentHash, indexedAt, source } = (record ?? {}) as Record<string, unknown>;
    if (
      typeof id !== 'string' ||
      id === '' ||
      !isMetadata(metadata) ||
      typeof contentHash !== 'string' ||
      typeof indexedAt !== 'string' ||
      (source !== undefined && !isItemSource(source))
    )
      throw corrupt(manifest.version, `${ITEMS_FILE} line ${i + 1} is not an item record`);
    const legacy = source === undefined ? legacySource(metadata) : null;
    items[i] = Object.freeze({
      id,
      metadata: Object.freeze(legacy ? legacy.metadata : metadata),
      contentHash,
      indexedAt,
      ...(source !== undefined ? { source: Object.freeze(source) } : {}),
      ...(legacy?.source ? { source: Object.freeze(legacy.source) } : {}),
    });
    start = end + 1;
    if ((i & 255) === 255) await slicer.maybeYield();
  }
  if (start !== data.length)
    throw corrupt(manifest.version, `${ITEMS_FILE} has more records than ${manifest.count}`);
  return items;
}
