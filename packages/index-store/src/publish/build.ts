import path from 'node:path';
import type { Logger } from '@lookalike/config';
import type { LinearProjection } from '@lookalike/projection';
import { InvalidChangeError } from '../errors';
import { writeAnnFile } from '../format/ann-file';
import { writeAttachments } from '../format/attachments';
import { writeItems } from '../format/items';
import { FORMAT, PROJECTION_FILE, segmentFile, type SegmentFileKind } from '../format/layout';
import { writeManifest, type FileEntry, type Manifest, type ManifestSegment } from '../format/manifest';
import { committedAtMs, intactFile, linkOrCopy, writeVectorFile } from '../format/segments';
import { fsyncDir, writeFileSynced } from '../fsutil';
import { buildAnnIndex, type AnnSpec } from '../query/ann';
import type { ModelIdentity, PublishStep, StoredItem } from '../types';

/** The one segment a publish writes (the upserts, plus the live rows of the segments it absorbs). */
export interface NewSegment {
  items: readonly StoredItem[];
  served: Float32Array;
  /** Raw embeddings of the same rows; null without a projection (served are the raw ones). */
  raw: Float32Array | null;
}

/** Everything one version holds, ready to be written. */
export interface SnapshotContent {
  version: number;
  createdAt: string;
  basedOn: number | null;
  fence: number;
  /** Live items in index order (count), and their served vectors. */
  count: number;
  served: Float32Array;
  projection: LinearProjection | null;
  /** Segments kept from the base (their files are linked), with their updated dead rows. */
  kept: ManifestSegment[];
  /** Null when the publish writes no segment (deletes or attachments only). */
  segment: NewSegment | null;
  attachments: ReadonlyMap<string, Uint8Array>;
  /** The base version: its directory (to link from), manifest and attachments; null for the first. */
  base: { dir: string; manifest: Manifest; attachments: ReadonlyMap<string, Uint8Array> } | null;
}

/** The writer's settings a build needs. */
export interface BuildSettings {
  model: ModelIdentity;
  ann: AnnSpec | null;
  logger: Logger;
  /** The crash-test hook (SnapshotWriterOptions.onStep). */
  step: (step: PublishStep) => Promise<void>;
}

/**
 * Writes and fsyncs every file of a format-2 snapshot into `dir` (a build directory under tmp/), the
 * manifest last: links of the kept segments' files, the projection, the new segment, the approximate
 * index, the attachments. Returns the manifest (and its text: the pointer names its checksum) and the
 * bytes newly written.
 */
export async function writeSnapshotFiles(
  dir: string,
  snapshot: SnapshotContent,
  settings: BuildSettings,
): Promise<{ manifest: Manifest; manifestText: string; bytesWritten: number }> {
  const { model, step, logger } = settings;
  const files: Record<string, FileEntry> = {};
  let bytesWritten = 0;
  const { base, projection } = snapshot;
  const kinds: SegmentFileKind[] = projection ? ['served', 'raw', 'items'] : ['served', 'items'];
  for (const segment of snapshot.kept) {
    if (!base) throw new Error('kept segments without a base');
    for (const kind of kinds) {
      const file = segmentFile(segment.id, kind);
      const entry = base.manifest.files[file];
      if (!entry) throw new Error(`base manifest lists no ${file}`);
      bytesWritten += linkOrCopy(path.join(base.dir, file), path.join(dir, file), logger);
      files[file] = entry;
    }
  }
  await step('base-linked');
  if (projection) {
    const baseEntry = base?.manifest.files[PROJECTION_FILE];
    if (
      base &&
      baseEntry &&
      base.manifest.projection?.id === projection.descriptor.id &&
      // Linked bytes are shared: a damaged base file is written anew from memory instead.
      intactFile(path.join(base.dir, PROJECTION_FILE), baseEntry, committedAtMs(base.dir))
    ) {
      bytesWritten += linkOrCopy(
        path.join(base.dir, PROJECTION_FILE),
        path.join(dir, PROJECTION_FILE),
        logger,
      );
      files[PROJECTION_FILE] = baseEntry;
    } else {
      files[PROJECTION_FILE] = await writeFileSynced(path.join(dir, PROJECTION_FILE), [projection.encode()]);
      bytesWritten += files[PROJECTION_FILE].bytes;
    }
    await step('projection-written');
  }
  const segments = [...snapshot.kept];
  const { segment } = snapshot;
  const segmentId = snapshot.version;
  if (segment) {
    const served = segmentFile(segmentId, 'served');
    files[served] = await writeVectorFile(path.join(dir, served), segment.served, () =>
      step('index-header-written'),
    );
    bytesWritten += files[served].bytes;
    if (projection) {
      if (!segment.raw) throw new Error('a projected segment needs its raw vectors');
      const raw = segmentFile(segmentId, 'raw');
      files[raw] = await writeVectorFile(path.join(dir, raw), segment.raw, async () => undefined);
      bytesWritten += files[raw].bytes;
      await step('raw-written');
    }
  }
  const dimension = projection ? projection.outputDimension : model.dimension;
  const ann = await writeAnnIndex(dir, snapshot.served, dimension, files, settings);
  if (ann) bytesWritten += files[ann.file]?.bytes ?? 0;
  await step('index-written');
  if (segment) {
    const items = segmentFile(segmentId, 'items');
    files[items] = await writeItems(dir, segment.items, () => step('items-partly-written'), items);
    bytesWritten += files[items].bytes;
    segments.push({ id: segmentId, rows: segment.items.length, dead: [] });
  }
  await step('items-written');
  bytesWritten += await writeAttachments(dir, snapshot.attachments, files, base, logger);
  const manifest: Manifest = {
    format: FORMAT,
    version: snapshot.version,
    createdAt: snapshot.createdAt,
    basedOn: snapshot.basedOn,
    fence: snapshot.fence,
    model,
    dimension,
    count: snapshot.count,
    shardSize: 0,
    projection: projection ? { ...projection.descriptor } : null,
    segments,
    metric: 'inner_product',
    files,
    attachments: [...snapshot.attachments.keys()].sort(),
    ...(ann ? { ann } : {}),
  };
  const manifestText = await writeManifest(dir, manifest, () => step('manifest-written'));
  bytesWritten += Buffer.byteLength(manifestText);
  await step('manifest-synced');
  await fsyncDir(dir);
  await step('build-dir-synced');
  return { manifest, manifestText, bytesWritten };
}

/**
 * Builds, writes and checksums the approximate index when this writer has a factory. A snapshot too
 * small for it (fewer items than IVF lists, say) is published flat, with a warning: it stays correct.
 */
async function writeAnnIndex(
  dir: string,
  vectors: Float32Array,
  dimension: number,
  files: Record<string, FileEntry>,
  { ann: spec, logger }: BuildSettings,
): Promise<Manifest['ann']> {
  if (!spec || vectors.length === 0) return undefined;
  const started = Date.now();
  let index;
  try {
    index = await buildAnnIndex(vectors, dimension, spec);
  } catch (err) {
    if (!(err instanceof InvalidChangeError)) throw err;
    logger.warn(
      { factory: spec.factory, count: vectors.length / dimension, reason: err.message },
      'approximate index not built; publishing flat only',
    );
    return undefined;
  }
  const { file, entry } = await writeAnnFile(dir, index);
  files[file] = entry;
  logger.info(
    { factory: spec.factory, ms: Date.now() - started, bytes: entry.bytes },
    'approximate index built',
  );
  return { factory: spec.factory, file, parameters: { ...spec.parameters } };
}
