import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@lookalike/config';
import { fsyncDir, writeFileSynced, type WorkSlicer } from '../fsutil';
import { ATTACHMENTS_DIR, attachmentPath } from './layout';
import { committedAtMs, intactFile, linkOrCopy } from './segments';
import { readListedFile, type FileEntry, type Manifest } from './manifest';

/**
 * Writes each attachment to `dir`/attachments/<name> (fsynced), recording it in `files`; one with the
 * same bytes as the base's is hard-linked from the base directory instead. Returns the bytes written.
 */
export async function writeAttachments(
  dir: string,
  attachments: ReadonlyMap<string, Uint8Array>,
  files: Record<string, FileEntry>,
  base: { dir: string; manifest: Manifest; attachments: ReadonlyMap<string, Uint8Array> } | null,
  logger: Logger,
): Promise<number> {
  if (attachments.size === 0) return 0;
  await fsp.mkdir(path.join(dir, ATTACHMENTS_DIR));
  let written = 0;
  let committed: number | undefined;
  for (const [name, content] of attachments) {
    const relative = attachmentPath(name);
    const before = base?.attachments.get(name);
    const baseEntry = base?.manifest.files[relative];
    if (
      base &&
      before &&
      baseEntry &&
      Buffer.compare(before, content) === 0 &&
      // Linked bytes are shared: a damaged base file is written anew from memory instead.
      intactFile(path.join(base.dir, relative), baseEntry, (committed ??= committedAtMs(base.dir)))
    ) {
      written += linkOrCopy(path.join(base.dir, relative), path.join(dir, relative), logger);
      files[relative] = baseEntry;
      continue;
    }
    files[relative] = await writeFileSynced(path.join(dir, ATTACHMENTS_DIR, name), [content]);
    written += files[relative].bytes;
  }
  await fsyncDir(path.join(dir, ATTACHMENTS_DIR));
  return written;
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
