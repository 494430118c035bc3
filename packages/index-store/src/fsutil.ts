import { createHash, type Hash } from 'node:crypto';
import { promises as fsp, readSync } from 'node:fs';
import path from 'node:path';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Yields to the event loop so a long load or build does not starve request handling. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Yields to the event loop once a time slice of work has run. On a busy server every yield waits
 * behind the requests queued meanwhile (8 searches of 40 ms: a third of a second), so yielding per chunk
 * made a 50k-item snapshot load take ~25 s under load instead of ~1 s. A slice is `minMs` on an idle
 * loop and grows to as long as the last wait (at most `maxMs`): under load the background job gets
 * about half of the event loop, so a reload finishes in seconds while requests still run between slices.
 */
export class WorkSlicer {
  private since = performance.now();
  private budgetMs: number;
  constructor(
    private readonly minMs = 40,
    private readonly maxMs = 200,
  ) {
    this.budgetMs = minMs;
  }

  async maybeYield(): Promise<void> {
    const start = performance.now();
    if (start - this.since < this.budgetMs) return;
    await yieldToEventLoop();
    this.since = performance.now();
    this.budgetMs = Math.min(this.maxMs, Math.max(this.minMs, this.since - start));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  // Not `instanceof Error`: errors from node internals may come from another realm (jest, vm).
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && codes.includes(code);
}

/** fsync a directory so a rename or a new entry inside it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const HASH_SLICE = 4 * 1024 * 1024;

/** Hashes a buffer in slices, yielding between them (a 200 MB items file must not block for a second). */
export async function hashInSlices(hash: Hash, data: Uint8Array, slicer?: WorkSlicer): Promise<void> {
  for (let offset = 0; offset < data.length; offset += HASH_SLICE) {
    hash.update(data.subarray(offset, Math.min(data.length, offset + HASH_SLICE)));
    if (offset + HASH_SLICE < data.length) await (slicer ? slicer.maybeYield() : yieldToEventLoop());
  }
}

export interface WrittenFile {
  bytes: number;
  sha256: string;
}

/**
 * Writes `parts` to a new file (exclusive create), hashing as it goes, and fsyncs it. `afterPart` runs
 * after each part is written (the crash tests use it to die with a file half written).
 */
export async function writeFileSynced(
  file: string,
  parts: Iterable<Uint8Array>,
  afterPart?: (index: number) => Promise<void>,
): Promise<WrittenFile> {
  const hash = createHash('sha256');
  const handle = await fsp.open(file, 'wx');
  let bytes = 0;
  try {
    let index = 0;
    for (const part of parts) {
      let offset = 0;
      while (offset < part.length) {
        const { bytesWritten } = await handle.write(part, offset, part.length - offset, bytes + offset);
        offset += bytesWritten;
      }
      hash.update(part);
      bytes += part.length;
      if (afterPart) await afterPart(index);
      index++;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * The bytes of a typed array in slices of at most `size` bytes (views, no copies), made without one
 * view over the whole: a Uint8Array or Buffer cannot be longer than 2³² bytes on Node 20, while a
 * segment's vectors can be (500k raw 2304-d rows are 4.6 GB).
 */
export function* byteSlices(data: ArrayBufferView, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < data.byteLength; offset += size)
    yield new Uint8Array(data.buffer, data.byteOffset + offset, Math.min(size, data.byteLength - offset));
}

/** Splits a byte view into slices of at most `size` bytes (no copies). */
export function* slices(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size)
    yield data.subarray(offset, Math.min(data.length, offset + size));
}

/** Replaces `file` atomically: write a temp file beside it, fsync, rename over, fsync the directory. */
export async function writeFileAtomic(file: string, content: string, tempName: string): Promise<void> {
  const temp = path.join(path.dirname(file), tempName);
  try {
    await writeFileSynced(temp, [Buffer.from(content)]);
    await fsp.rename(temp, file);
  } catch (err) {
    // Nothing partial stays behind (a full disk mid-write): the sweep only takes dead processes' files.
    await fsp.rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

/** Reads a whole file; null when it does not exist. */
export async function readFileIfExists(file: string): Promise<Buffer | null> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

export async function removeTree(target: string): Promise<void> {
  await fsp.rm(target, { recursive: true, force: true, maxRetries: 3 });
}

const IO_CHUNK_BYTES = 8 * 1024 * 1024;

/** Size and sha256 of a file written natively (by faiss), read back in chunks; fsyncs it too. */
export async function hashAndSyncFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const handle = await fsp.open(file, 'r+');
  try {
    const hash = createHash('sha256');
    const chunk = Buffer.allocUnsafe(IO_CHUNK_BYTES);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, bytes);
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    await handle.sync();
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

/** The message of anything thrown (errors from another realm included). */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string')
    return (err as { message: string }).message;
  return String(err);
}

/** Reads exactly target.length bytes at `position` (synchronously); throws at an early end of file. */
export function readFully(fd: number, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    const bytesRead = readSync(fd, target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new Error('unexpected end of file');
    done += bytesRead;
  }
}
