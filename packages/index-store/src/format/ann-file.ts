import path from 'node:path';
import { Index } from 'faiss-node';
import { SnapshotCorruptError } from '../errors';
import { errorMessage, hashAndSyncFile } from '../fsutil';
import { ANN_FILE } from './layout';
import type { FileEntry, Manifest, ManifestAnn } from './manifest';

/** Writes the approximate index as faiss writes it (ann.faiss), fsynced; returns its size and sha256. */
export async function writeAnnFile(dir: string, index: Index): Promise<{ file: string; entry: FileEntry }> {
  const file = path.join(dir, ANN_FILE);
  index.write(file);
  return { file: ANN_FILE, entry: await hashAndSyncFile(file) };
}

/** The approximate index the manifest names, checked against its checksum, count and dimension. */
export async function readAnnFile(dir: string, manifest: Manifest, ann: ManifestAnn): Promise<Index> {
  const { version } = manifest;
  const { file } = ann;
  const expected = manifest.files[file];
  const actual = await hashAndSyncFile(path.join(dir, file)).catch((err: unknown) => {
    throw new SnapshotCorruptError(version, `cannot read ${file}: ${errorMessage(err)}`, err);
  });
  if (!expected || actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256)
    throw new SnapshotCorruptError(version, `${file} checksum mismatch`);
  const index = Index.read(path.join(dir, file));
  if (index.ntotal() !== manifest.count || index.getDimension() !== manifest.dimension)
    throw new SnapshotCorruptError(version, `${file} does not hold the snapshot's ${manifest.count} vectors`);
  return index;
}
