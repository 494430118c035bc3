import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync } from 'node:fs';
import path from 'node:path';
import { SnapshotCorruptError } from '../errors';
import { readFully, type WorkSlicer } from '../fsutil';
import { indexShardFile, shardCount } from './layout';
import type { Manifest } from './manifest';

/**
 * Format 1 (read only): faiss::write_index layout of an IndexFlatIP (faiss 1.7.x): fourcc "IxFI", int32 d, int64 ntotal,
 * two int64 dummies (1 << 20), uint8 is_trained, int32 metric type (0 = inner product), then the codes
 * vector as uint64 float count + the floats. 45 bytes before the payload.
 */
export const FAISS_HEADER_BYTES = 45;
const FAISS_FOURCC_IP = 'IxFI';
const FAISS_DUMMY = 1n << 20n;
const READ_CHUNK_BYTES = 8 * 1024 * 1024;

export function encodeFaissHeader(dimension: number, count: number): Buffer {
  const header = Buffer.alloc(FAISS_HEADER_BYTES);
  header.write(FAISS_FOURCC_IP, 0, 'latin1');
  header.writeInt32LE(dimension, 4);
  header.writeBigInt64LE(BigInt(count), 8);
  header.writeBigInt64LE(FAISS_DUMMY, 16);
  header.writeBigInt64LE(FAISS_DUMMY, 24);
  header.writeUInt8(1, 32);
  header.writeInt32LE(0, 33);
  header.writeBigUInt64LE(BigInt(count) * BigInt(dimension), 37);
  return header;
}

/** Returns null when the header is exactly what encodeFaissHeader would write, else the reason. */
export function checkFaissHeader(header: Buffer, dimension: number, count: number): string | null {
  if (header.length !== FAISS_HEADER_BYTES) return 'index header is truncated';
  if (header.toString('latin1', 0, 4) !== FAISS_FOURCC_IP) return 'index is not a FAISS IndexFlatIP';
  if (header.readInt32LE(4) !== dimension) return `index dimension ${header.readInt32LE(4)} ≠ ${dimension}`;
  if (header.readBigInt64LE(8) !== BigInt(count))
    return `index holds ${header.readBigInt64LE(8)} vectors ≠ ${count}`;
  if (header.readInt32LE(33) !== 0) return 'index metric is not inner product';
  if (header.readBigUInt64LE(37) !== BigInt(count) * BigInt(dimension))
    return 'index payload size is inconsistent';
  return null;
}

/** Every shard the manifest lists, verified, into one Float32Array (index order). */
export async function readVectorShards(
  dir: string,
  manifest: Manifest,
  slicer: WorkSlicer,
): Promise<Float32Array> {
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
  const corrupt = (reason: string) => new SnapshotCorruptError(manifest.version, reason);
  const expected = manifest.files[file];
  if (!expected || expected.bytes !== FAISS_HEADER_BYTES + target.length)
    throw corrupt(`${file} size in manifest does not fit ${shardItems} × ${manifest.dimension} floats`);
  const fd = openSync(path.join(dir, file), 'r');
  try {
    const { size } = fstatSync(fd);
    if (size !== expected.bytes) throw corrupt(`${file} is ${size} bytes, expected ${expected.bytes}`);
    const header = Buffer.alloc(FAISS_HEADER_BYTES);
    readFully(fd, header, 0);
    const headerProblem = checkFaissHeader(header, manifest.dimension, shardItems);
    if (headerProblem) throw corrupt(`${file}: ${headerProblem}`);
    const hash = createHash('sha256').update(header);
    // The payload starts at an odd file offset; reading into the Float32Array's bytes keeps it aligned.
    for (let offset = 0; offset < target.length; offset += READ_CHUNK_BYTES) {
      const chunk = target.subarray(offset, Math.min(target.length, offset + READ_CHUNK_BYTES));
      readFully(fd, chunk, FAISS_HEADER_BYTES + offset);
      hash.update(chunk);
      await slicer.maybeYield();
    }
    if (hash.digest('hex') !== expected.sha256) throw corrupt(`${file} checksum mismatch`);
  } finally {
    closeSync(fd);
  }
}
