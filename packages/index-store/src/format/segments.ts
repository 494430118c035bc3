import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, fstatSync, fsyncSync, linkSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@lookalike/config';
import { SnapshotCorruptError } from '../errors';
import {
  byteSlices,
  errorMessage,
  isErrno,
  readFully,
  writeFileSynced,
  yieldToEventLoop,
  type WorkSlicer,
} from '../fsutil';
import type { FileEntry, Manifest } from './manifest';

/** Bytes written per part (and read per step): a few ms of I/O between event-loop turns. */
const IO_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Writes a segment's vectors (rows × dimension float32 LE, no header) and fsyncs it. `onFirstPart`
 * runs once the first part is on disk (a crash-test step; at once for an empty file).
 */
export async function writeVectorFile(
  file: string,
  vectors: Float32Array,
  onFirstPart: () => Promise<void>,
): Promise<FileEntry> {
  let first = true;
  const entry = await writeFileSynced(file, byteSlices(vectors, IO_CHUNK_BYTES), async () => {
    if (first) await onFirstPart();
    first = false;
    await yieldToEventLoop();
  });
  if (first) await onFirstPart();
  return entry;
}

/**
 * Reads a segment's vector file (`rows` × `dimension` floats), verifying its size and sha256 against
 * the manifest, and copies the rows not in `dead` (ascending) into `target` from float `at` on.
 * Synchronous reads of 8 MB steps with time-sliced yields (see vectors.ts for why not awaited reads).
 */
export async function readVectorFile(
  dir: string,
  file: string,
  manifest: Manifest,
  rows: number,
  dimension: number,
  dead: readonly number[],
  target: Float32Array,
  at: number,
  slicer: WorkSlicer,
): Promise<number> {
  const corrupt = (reason: string) => new SnapshotCorruptError(manifest.version, reason);
  const expected = manifest.files[file];
  const rowBytes = dimension * 4;
  if (!expected || expected.bytes !== rows * rowBytes)
    throw corrupt(`${file} size in manifest does not fit ${rows} × ${dimension} floats`);
  let fd: number;
  try {
    fd = openSync(path.join(dir, file), 'r');
  } catch (err) {
    throw corrupt(`cannot read ${file}: ${errorMessage(err)}`);
  }
  try {
    const { size } = fstatSync(fd);
    if (size !== expected.bytes) throw corrupt(`${file} is ${size} bytes, expected ${expected.bytes}`);
    const hash = createHash('sha256');
    const rowsPerChunk = Math.max(1, Math.floor(IO_CHUNK_BYTES / rowBytes));
    // With no dead rows the file is read straight into the target (aligned); else through a scratch chunk.
    const scratch = dead.length > 0 ? new Float32Array(Math.min(rows, rowsPerChunk) * dimension) : null;
    let position = at;
    let nextDead = 0;
    for (let first = 0; first < rows; first += rowsPerChunk) {
      const chunkRows = Math.min(rowsPerChunk, rows - first);
      const into = scratch
        ? scratch.subarray(0, chunkRows * dimension)
        : target.subarray(position, position + chunkRows * dimension);
      const view = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
      readFully(fd, view, first * rowBytes);
      hash.update(view);
      if (!scratch) position += chunkRows * dimension;
      else {
        for (let r = 0; r < chunkRows; r++) {
          if (dead[nextDead] === first + r) {
            nextDead++;
            continue;
          }
          target.set(scratch.subarray(r * dimension, (r + 1) * dimension), position);
          position += dimension;
        }
      }
      await slicer.maybeYield();
    }
    if (hash.digest('hex') !== expected.sha256) throw corrupt(`${file} checksum mismatch`);
    return position;
  } finally {
    closeSync(fd);
  }
}

/**
 * Puts an immutable file of the base version into the build directory: a hard link (no bytes written),
 * or a copy where the file system refuses links (another device, no link support). Returns the bytes
 * newly written (0 for a link).
 */
export function linkOrCopy(from: string, to: string, logger: Logger): number {
  try {
    linkSync(from, to);
    return 0;
  } catch (err) {
    if (!isErrno(err, 'EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK')) throw err;
    logger.warn({ from, to, code: (err as NodeJS.ErrnoException).code }, 'hard link refused; copying');
    copyFileSync(from, to);
    // A copy is new data: durable before the manifest that lists it (the links' data already is).
    const fd = openSync(to, 'r+');
    try {
      fsyncSync(fd);
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Whether a base version's file still holds the bytes its manifest lists, checked before the file is
 * hard-linked into a new version (a link shares the bytes: linking a damaged file would damage every
 * later version too). Cheap for a file untouched since its version was committed — its size matches
 * and it was last modified no later than the version's manifest (`committedMs`, that manifest's mtime;
 * files are written before their manifest) — else its sha256 is computed and compared.
 */
export function intactFile(file: string, entry: FileEntry, committedMs: number): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const stat = fstatSync(fd);
    if (stat.size !== entry.bytes) return false;
    if (stat.mtimeMs <= committedMs) return true;
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(Math.min(IO_CHUNK_BYTES, Math.max(1, entry.bytes)));
    for (let offset = 0; offset < entry.bytes; offset += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, entry.bytes - offset));
      readFully(fd, part, offset);
      hash.update(part);
    }
    return hash.digest('hex') === entry.sha256;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** The mtime of a version directory's manifest (when it was committed), for intactFile; -∞ if unreadable. */
export function committedAtMs(versionDir: string): number {
  try {
    return statSync(path.join(versionDir, 'manifest.json')).mtimeMs;
  } catch {
    return -Infinity;
  }
}
