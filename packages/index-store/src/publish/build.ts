import type { Logger } from '@lookalike/config';
import { InvalidChangeError } from '../errors';
import { writeAnnFile } from '../format/ann-file';
import { writeAttachments } from '../format/attachments';
import { writeItems } from '../format/items';
import { FORMAT, ITEMS_FILE } from '../format/layout';
import { writeManifest, type FileEntry, type Manifest } from '../format/manifest';
import { writeVectorShards } from '../format/vectors';
import { fsyncDir } from '../fsutil';
import { buildAnnIndex, type AnnSpec } from '../query/ann';
import type { ModelIdentity, PublishStep, StoredItem } from '../types';

/** Everything one version holds, ready to be written. */
export interface SnapshotContent {
  version: number;
  createdAt: string;
  basedOn: number | null;
  fence: number;
  items: readonly StoredItem[];
  vectors: Float32Array;
  attachments: ReadonlyMap<string, Uint8Array>;
}

/** The writer's settings a build needs. */
export interface BuildSettings {
  model: ModelIdentity;
  shardSize: number;
  ann: AnnSpec | null;
  logger: Logger;
  /** The crash-test hook (SnapshotWriterOptions.onStep). */
  step: (step: PublishStep) => Promise<void>;
}

/**
 * Writes and fsyncs every file of a snapshot into `dir` (a build directory under tmp/) through the
 * format codecs, the manifest last; returns the manifest text (the pointer names its checksum).
 */
export async function writeSnapshotFiles(
  dir: string,
  snapshot: SnapshotContent,
  settings: BuildSettings,
): Promise<string> {
  const { model, shardSize, step } = settings;
  const files: Record<string, FileEntry> = {};
  await writeVectorShards(dir, snapshot.vectors, model.dimension, shardSize, files, () =>
    step('index-header-written'),
  );
  const ann = await writeAnnIndex(dir, snapshot.vectors, files, settings);
  await step('index-written');
  files[ITEMS_FILE] = await writeItems(dir, snapshot.items, () => step('items-partly-written'));
  await step('items-written');
  await writeAttachments(dir, snapshot.attachments, files);
  const manifest: Manifest = {
    format: FORMAT,
    version: snapshot.version,
    createdAt: snapshot.createdAt,
    basedOn: snapshot.basedOn,
    fence: snapshot.fence,
    model,
    dimension: model.dimension,
    count: snapshot.items.length,
    shardSize,
    metric: 'inner_product',
    files,
    attachments: [...snapshot.attachments.keys()].sort(),
    ...(ann ? { ann } : {}),
  };
  const manifestText = await writeManifest(dir, manifest, () => step('manifest-written'));
  await step('manifest-synced');
  await fsyncDir(dir);
  await step('build-dir-synced');
  return manifestText;
}

/**
 * Builds, writes and checksums the approximate index when this writer has a factory. A snapshot too
 * small for it (fewer items than IVF lists, say) is published flat, with a warning: it stays correct.
 */
async function writeAnnIndex(
  dir: string,
  vectors: Float32Array,
  files: Record<string, FileEntry>,
  { ann: spec, model, logger }: BuildSettings,
): Promise<Manifest['ann']> {
  if (!spec || vectors.length === 0) return undefined;
  const started = Date.now();
  let index;
  try {
    index = await buildAnnIndex(vectors, model.dimension, spec);
  } catch (err) {
    if (!(err instanceof InvalidChangeError)) throw err;
    logger.warn(
      { factory: spec.factory, count: vectors.length / model.dimension, reason: err.message },
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
