import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { sameModel } from '@lookalike/contracts';
import type { Index } from 'faiss-node';
import { ModelMismatchError, SnapshotCorruptError, SnapshotNotFoundError } from '../errors';
import { readAnnFile } from '../format/ann-file';
import { readAttachments } from '../format/attachments';
import { LinearProjection } from '@lookalike/projection';
import { decodeItemsData, readItems } from '../format/items';
import {
  MANIFEST_FILE,
  PROJECTION_FILE,
  assertLittleEndian,
  segmentFile,
  snapshotDir,
} from '../format/layout';
import { decodeManifest, readListedFile, type Manifest } from '../format/manifest';
import { readVectorFile } from '../format/segments';
import { readVectorShards } from '../format/vectors';
import { WorkSlicer, errorMessage, isErrno, sha256Hex } from '../fsutil';
import { applySearchParameters, type SearchParameters } from '../query/ann';
import { SnapshotImpl } from '../query/snapshot';
import type { ModelIdentity, StoredItem } from '../types';
import { DecodedSegments } from './decoded-items';
import { readSegmentsInWorker } from './worker-read';

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
  /**
   * Read and verify the segment files in a worker thread (format 2), so the event loop only parses
   * item records (readers serving queries); default: on the calling thread, time-sliced.
   */
  readInWorker?: boolean;
  /**
   * The snapshot this process serves now: item records of the segments the new version shares with it
   * (same items file and checksum) are taken from it instead of parsed again (see decoded-items.ts).
   */
  previous?: SnapshotImpl;
  /**
   * The shortest stretch of loading work between yields to the event loop, ms (default 40; under
   * load each stretch grows to the length of the last wait, see WorkSlicer). A serving reader uses a
   * few ms: with the segment files read in a worker and kept records reused, what is left on the loop
   * (id lookup, filter index) comes in small steps, and a query arriving meanwhile waits one step.
   */
  minSliceMs?: number;
}

function corrupt(version: number, reason: string, cause?: unknown): SnapshotCorruptError {
  return new SnapshotCorruptError(version, reason, cause);
}

/** The manifest of `version`, checked against the pointer's checksum and the directory's version. */
async function loadManifest(dir: string, version: number, options: LoadOptions): Promise<Manifest> {
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
    manifest = decodeManifest(manifestBytes.toString('utf8'));
  } catch (err) {
    throw corrupt(version, errorMessage(err), err);
  }
  if (manifest.version !== version)
    throw corrupt(version, `manifest says version ${manifest.version}, directory says ${version}`);
  return manifest;
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
  const manifest = await loadManifest(dir, version, options);
  if (options.expectedModel && !sameModel(manifest.model, options.expectedModel)) {
    throw new ModelMismatchError(
      `Snapshot version ${version} was built with model ${manifest.model.id} (${manifest.model.sha256.slice(0, 12)}…, ` +
        `d=${manifest.model.dimension}), not ${options.expectedModel.id} (${options.expectedModel.sha256.slice(0, 12)}…, ` +
        `d=${options.expectedModel.dimension})`,
      { version, snapshotModel: manifest.model, expectedModel: options.expectedModel },
    );
  }

  // One time budget for the whole load: it yields every ~40 ms of work, not after every step.
  const slicer = new WorkSlicer(options.minSliceMs);
  try {
    const projection = manifest.projection ? await readProjection(dir, manifest, slicer) : null;
    const { vectors, items } = manifest.segments
      ? options.readInWorker
        ? await readSegmentsViaWorker(dir, manifest, slicer, DecodedSegments.of(options.previous))
        : await readSegments(dir, manifest, slicer, DecodedSegments.of(options.previous))
      : {
          vectors: await readVectorShards(dir, manifest, slicer),
          items: await readItems(dir, manifest, slicer),
        };
    const attachments = await readAttachments(dir, manifest, slicer);
    let ann: { index: Index; factory: string } | undefined;
    if (options.loadFaiss && manifest.ann) {
      // The approximate index is searched instead of the flat vectors.
      const index = await readAnnFile(dir, manifest, manifest.ann);
      const { factory, parameters } = manifest.ann;
      applySearchParameters(index, { ...parameters, ...(options.searchParameters ?? {}) }, factory);
      ann = { index, factory };
    }
    return await SnapshotImpl.create(
      {
        version,
        builtAt: manifest.createdAt,
        basedOn: manifest.basedOn,
        model: manifest.model,
        manifest,
        projection,
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

/**
 * projection.bin, verified against its checksum and against the manifest: the descriptor it decodes to
 * must be the manifest's (same id, so the same map), for the snapshot's model, onto its served
 * dimension. Anything else is refused as a whole: a reader never serves vectors of one space with a
 * projection of another.
 */
async function readProjection(
  dir: string,
  manifest: Manifest,
  slicer: WorkSlicer,
): Promise<LinearProjection> {
  const bytes = await readListedFile(dir, PROJECTION_FILE, manifest, slicer);
  let projection: LinearProjection;
  try {
    projection = LinearProjection.decode(bytes);
  } catch (err) {
    throw corrupt(manifest.version, `${PROJECTION_FILE}: ${errorMessage(err)}`, err);
  }
  const { descriptor } = projection;
  if (descriptor.id !== manifest.projection?.id)
    throw corrupt(
      manifest.version,
      `${PROJECTION_FILE} is projection ${descriptor.id}, the manifest names ${manifest.projection?.id}`,
    );
  if (!sameModel(descriptor.model, manifest.model))
    throw new ModelMismatchError(
      `Snapshot version ${manifest.version}'s projection maps model ${descriptor.model.id}, not its model ${manifest.model.id}`,
      { version: manifest.version, projectionModel: descriptor.model, snapshotModel: manifest.model },
    );
  if (descriptor.outputDimension !== manifest.dimension)
    throw corrupt(
      manifest.version,
      `${PROJECTION_FILE} projects to ${descriptor.outputDimension}, served dimension is ${manifest.dimension}`,
    );
  return projection;
}

/** The segments' live rows must add up to the manifest's item count. */
function checkLiveCount(manifest: Manifest, rows: number): void {
  if (rows !== manifest.count)
    throw corrupt(manifest.version, `segments hold ${rows} items, expected ${manifest.count}`);
}

/** The live rows of every segment (served vectors and items; never the raw files), in index order. */
async function readSegments(
  dir: string,
  manifest: Manifest,
  slicer: WorkSlicer,
  decoded: DecodedSegments | null,
): Promise<{ vectors: Float32Array; items: StoredItem[] }> {
  const vectors = new Float32Array(manifest.count * manifest.dimension);
  const items = new Array<StoredItem>(manifest.count);
  let at = 0;
  let position = 0;
  for (const segment of manifest.segments ?? []) {
    at = await readVectorFile(
      dir,
      segmentFile(segment.id, 'served'),
      manifest,
      segment.rows,
      manifest.dimension,
      segment.dead,
      vectors,
      at,
      slicer,
    );
    const itemsFile = segmentFile(segment.id, 'items');
    const data = await readListedFile(dir, itemsFile, manifest, slicer);
    const sha256 = manifest.files[itemsFile]?.sha256;
    const reused = decoded && sha256 ? decoded.take(segment, sha256, items, position) : null;
    position =
      reused ??
      (await decodeItemsData(data, itemsFile, manifest, segment.rows, segment.dead, items, position, slicer));
  }
  checkLiveCount(manifest, position);
  return { vectors, items };
}

/** readSegments with the file work in a worker thread (see worker-read.ts); only the item records are parsed here. */
async function readSegmentsViaWorker(
  dir: string,
  manifest: Manifest,
  slicer: WorkSlicer,
  decoded: DecodedSegments | null,
): Promise<{ vectors: Float32Array; items: StoredItem[] }> {
  const { vectors, items: itemFiles } = await readSegmentsInWorker(dir, manifest);
  const items = new Array<StoredItem>(manifest.count);
  let position = 0;
  for (const [index, segment] of (manifest.segments ?? []).entries()) {
    const itemsFile = segmentFile(segment.id, 'items');
    // The worker verified the file against the manifest's checksum, so equal checksums mean equal records.
    const sha256 = manifest.files[itemsFile]?.sha256;
    const reused = decoded && sha256 ? decoded.take(segment, sha256, items, position) : null;
    position =
      reused ??
      (await decodeItemsData(
        itemFiles[index] as Buffer,
        itemsFile,
        manifest,
        segment.rows,
        segment.dead,
        items,
        position,
        slicer,
      ));
    await slicer.maybeYield();
  }
  checkLiveCount(manifest, position);
  return { vectors, items };
}
