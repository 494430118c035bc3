import { Worker } from 'node:worker_threads';
import { SnapshotCorruptError } from '../errors';
import { segmentFile } from '../format/layout';
import type { Manifest } from '../format/manifest';

/**
 * The loader's file work (read, size and sha256 check, assembling the live rows of every segment into
 * one dense vector array) in a worker thread, so the event loop of a serving API only parses the item
 * records. The vector memory is created in the worker and transferred (no copy). Plain JS evaluated in
 * the worker: it needs no build step and uses node built-ins only.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const CHUNK = 8 * 1024 * 1024;
function fail(file, reason) { throw Object.assign(new Error(reason), { file }); }
function readFully(fd, target, position) {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) fail('', 'unexpected end of file');
    done += n;
  }
}
function verifiedRead(dir, file, expected, onChunk) {
  let fd;
  try { fd = fs.openSync(path.join(dir, file), 'r'); } catch (err) { fail(file, 'cannot read ' + file + ': ' + err.message); }
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== expected.bytes) fail(file, file + ' is ' + size + ' bytes, expected ' + expected.bytes);
    const hash = crypto.createHash('sha256');
    for (let offset = 0; offset < size; offset += CHUNK) onChunk(fd, offset, Math.min(CHUNK, size - offset), hash);
    if (hash.digest('hex') !== expected.sha256) fail(file, file + ' checksum mismatch');
  } finally { fs.closeSync(fd); }
}
try {
  const { dir, dimension, count, segments, files } = workerData;
  const rowBytes = dimension * 4;
  const vectors = new ArrayBuffer(count * rowBytes);
  const target = new Uint8Array(vectors);
  let position = 0;
  const items = [];
  for (const segment of segments) {
    const served = files[segment.served];
    if (!served || served.bytes !== segment.rows * rowBytes)
      fail(segment.served, segment.served + ' size in manifest does not fit ' + segment.rows + ' × ' + dimension + ' floats');
    const dead = new Set(segment.dead);
    const chunkRows = Math.max(1, Math.floor(CHUNK / rowBytes));
    const scratch = Buffer.allocUnsafe(Math.min(segment.rows, chunkRows) * rowBytes);
    let fd;
    try { fd = fs.openSync(path.join(dir, segment.served), 'r'); } catch (err) { fail(segment.served, 'cannot read ' + segment.served + ': ' + err.message); }
    const hash = crypto.createHash('sha256');
    try {
      const size = fs.fstatSync(fd).size;
      if (size !== served.bytes) fail(segment.served, segment.served + ' is ' + size + ' bytes, expected ' + served.bytes);
      for (let first = 0; first < segment.rows; first += chunkRows) {
        const rows = Math.min(chunkRows, segment.rows - first);
        const view = scratch.subarray(0, rows * rowBytes);
        readFully(fd, view, first * rowBytes);
        hash.update(view);
        for (let r = 0; r < rows; r++) {
          if (dead.has(first + r)) continue;
          target.set(view.subarray(r * rowBytes, (r + 1) * rowBytes), position);
          position += rowBytes;
        }
      }
    } finally { fs.closeSync(fd); }
    if (hash.digest('hex') !== served.sha256) fail(segment.served, segment.served + ' checksum mismatch');
    const itemsEntry = files[segment.items];
    if (!itemsEntry) fail(segment.items, 'no checksum for ' + segment.items);
    const data = new Uint8Array(itemsEntry.bytes);
    verifiedRead(dir, segment.items, itemsEntry, (fd2, offset, length, h) => {
      const view = data.subarray(offset, offset + length);
      readFully(fd2, view, offset);
      h.update(view);
    });
    items.push(data.buffer);
  }
  if (position !== count * rowBytes) fail('', 'segments hold ' + position / rowBytes + ' live rows, expected ' + count);
  parentPort.postMessage({ vectors, items }, [vectors, ...items]);
} catch (err) {
  parentPort.postMessage({ error: err.message, file: err.file });
}
`;

export interface WorkerReadResult {
  vectors: Float32Array;
  /** Each segment's items file, verified, in segment order. */
  items: Buffer[];
}

/** Reads and verifies a format-2 snapshot's served vectors and items files in a worker thread. */
export function readSegmentsInWorker(dir: string, manifest: Manifest): Promise<WorkerReadResult> {
  const segments = (manifest.segments ?? []).map((segment) => ({
    served: segmentFile(segment.id, 'served'),
    items: segmentFile(segment.id, 'items'),
    rows: segment.rows,
    dead: segment.dead,
  }));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      dir,
      dimension: manifest.dimension,
      count: manifest.count,
      segments,
      files: manifest.files,
    },
  });
  return new Promise<WorkerReadResult>((resolve, reject) => {
    worker.once('message', (message: { vectors?: ArrayBuffer; items?: ArrayBuffer[]; error?: string }) => {
      void worker.terminate();
      if (message.error !== undefined || !message.vectors || !message.items)
        reject(new SnapshotCorruptError(manifest.version, message.error ?? 'loader worker failed'));
      else
        resolve({
          vectors: new Float32Array(message.vectors),
          items: message.items.map((buffer) => Buffer.from(buffer)),
        });
    });
    worker.once('error', (err) =>
      reject(new SnapshotCorruptError(manifest.version, `loader worker: ${err.message}`, err)),
    );
    worker.once('exit', (code) => {
      if (code !== 0) reject(new SnapshotCorruptError(manifest.version, `loader worker exited with ${code}`));
    });
  });
}
