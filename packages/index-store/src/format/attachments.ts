import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsyncDir, writeFileSynced, type WorkSlicer } from '../fsutil';
import { ATTACHMENTS_DIR, attachmentPath } from './layout';
import { readListedFile, type FileEntry, type Manifest } from './manifest';

/** Writes each attachment to `dir`/attachments/<name> (fsynced), recording it in `files`. */
export async function writeAttachments(
  dir: string,
  attachments: ReadonlyMap<string, Uint8Array>,
  files: Record<string, FileEntry>,
): Promise<void> {
  if (attachments.size === 0) return;
  await fsp.mkdir(path.join(dir, ATTACHMENTS_DIR));
  for (const [name, content] of attachments)
    files[attachmentPath(name)] = await writeFileSynced(path.join(dir, ATTACHMENTS_DIR, name), [content]);
  await fsyncDir(path.join(dir, ATTACHMENTS_DIR));
}

/** Every attachment the manifest lists, verified. */
export async function readAttachments(
  dir: string,
  manifest: Manifest,
  slicer: WorkSlicer,
): Promise<Map<string, Uint8Array>> {
  const attachments = new Map<string, Uint8Array>();
  for (const name of manifest.attachments)
    attachments.set(name, await readListedFile(dir, attachmentPath(name), manifest, slicer));
  return attachments;
}
