import path from 'node:path';
import { isItemSource } from '@lookalike/contracts';
import { SnapshotCorruptError } from '../errors';
import { writeFileSynced, yieldToEventLoop, type WorkSlicer } from '../fsutil';
import type { ItemSource, Metadata, StoredItem } from '../types';
import { ITEMS_FILE } from './layout';
import { readListedFile, type FileEntry, type Manifest } from './manifest';

const ITEMS_WRITE_CHUNK = 1024 * 1024;
const LEGACY_SOURCE_KEY = '_source';

/** One items.ndjson line. */
export function encodeItem(item: StoredItem): string {
  return `${JSON.stringify({ id: item.id, metadata: item.metadata, contentHash: item.contentHash, indexedAt: item.indexedAt, ...(item.source ? { source: item.source } : {}) })}\n`;
}

/** items.ndjson in ~1 MB parts, always at least two (so a crash can land between them). */
export function* encodeItemChunks(items: readonly StoredItem[]): Generator<Uint8Array> {
  let lines: string[] = [];
  let size = 0;
  let emitted = 0;
  for (const item of items) {
    const line = encodeItem(item);
    lines.push(line);
    size += line.length;
    if (size >= ITEMS_WRITE_CHUNK) {
      yield Buffer.from(lines.join(''));
      emitted++;
      lines = [];
      size = 0;
    }
  }
  const rest = Buffer.from(lines.join(''));
  if (emitted === 0) {
    const half = rest.length >> 1;
    yield rest.subarray(0, half);
    yield rest.subarray(half);
  } else yield rest;
}

/** Writes and fsyncs `dir`/`file` (items.ndjson format); `onFirstPart` runs once part of it is on disk (a crash-test step). */
export async function writeItems(
  dir: string,
  items: readonly StoredItem[],
  onFirstPart: () => Promise<void>,
  file: string = ITEMS_FILE,
): Promise<FileEntry> {
  return writeFileSynced(path.join(dir, file), encodeItemChunks(items), async (part) => {
    if (part === 0) await onFirstPart();
    await yieldToEventLoop();
  });
}

function isMetadata(value: unknown): value is Metadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const field in value) {
    const v = (value as Record<string, unknown>)[field];
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) return false;
  }
  return true;
}

/**
 * Snapshots written before items had a `source` field kept it in the metadata as `_source`
 * (`url:<imageUrl>`, `path:<imagePath>` or `blob:<sha256>`): read such a record as if it had been
 * written now, so the API never shows the bookkeeping and a reindex still finds the image.
 */
export function legacySource(metadata: Metadata): { metadata: Metadata; source: ItemSource | null } | null {
  const value = metadata[LEGACY_SOURCE_KEY];
  if (value === undefined) return null;
  const { [LEGACY_SOURCE_KEY]: _legacy, ...rest } = metadata;
  if (typeof value !== 'string') return { metadata: rest, source: null };
  const colon = value.indexOf(':');
  const kind = value.slice(0, colon);
  const rest2 = value.slice(colon + 1);
  const source: unknown =
    colon < 0
      ? null
      : kind === 'url'
        ? { imageUrl: rest2 }
        : kind === 'path'
          ? { imagePath: rest2 }
          : kind === 'blob'
            ? { blob: rest2 }
            : null;
  return { metadata: rest, source: isItemSource(source) ? source : null };
}

/** items.ndjson (format 1), verified against the manifest, one frozen StoredItem per line (index order). */
export async function readItems(dir: string, manifest: Manifest, slicer: WorkSlicer): Promise<StoredItem[]> {
  const items: StoredItem[] = new Array<StoredItem>(manifest.count);
  await readItemsFile(dir, ITEMS_FILE, manifest, manifest.count, [], items, 0, slicer);
  return items;
}

/**
 * An items file of `rows` records, verified against the manifest; the records not in `dead`
 * (ascending rows) go to `out` from `at` on, frozen. Returns the next free position of `out`.
 */
export async function readItemsFile(
  dir: string,
  file: string,
  manifest: Manifest,
  rows: number,
  dead: readonly number[],
  out: StoredItem[],
  at: number,
  slicer: WorkSlicer,
): Promise<number> {
  const data = await readListedFile(dir, file, manifest, slicer);
  return decodeItemsData(data, file, manifest, rows, dead, out, at, slicer);
}

/** readItemsFile on bytes already read and verified (by a loader worker). */
export async function decodeItemsData(
  data: Buffer,
  file: string,
  manifest: Manifest,
  rows: number,
  dead: readonly number[],
  out: StoredItem[],
  at: number,
  slicer: WorkSlicer,
): Promise<number> {
  const corrupt = (reason: string) => new SnapshotCorruptError(manifest.version, reason);
  let start = 0;
  let nextDead = 0;
  let position = at;
  for (let i = 0; i < rows; i++) {
    const end = data.indexOf(10, start);
    if (end < 0) throw corrupt(`${file} has ${i} records, expected ${rows}`);
    if (dead[nextDead] === i) {
      nextDead++;
      start = end + 1;
      continue;
    }
    let record: unknown;
    try {
      record = JSON.parse(data.toString('utf8', start, end));
    } catch {
      throw corrupt(`${file} line ${i + 1} is not JSON`);
    }
    const { id, metadata, contentHash, indexedAt, source } = (record ?? {}) as Record<string, unknown>;
    if (
      typeof id !== 'string' ||
      id === '' ||
      !isMetadata(metadata) ||
      typeof contentHash !== 'string' ||
      typeof indexedAt !== 'string' ||
      (source !== undefined && !isItemSource(source))
    )
      throw corrupt(`${file} line ${i + 1} is not an item record`);
    const legacy = source === undefined ? legacySource(metadata) : null;
    out[position++] = Object.freeze({
      id,
      metadata: Object.freeze(legacy ? legacy.metadata : metadata),
      contentHash,
      indexedAt,
      ...(source !== undefined ? { source: Object.freeze(source) } : {}),
      ...(legacy?.source ? { source: Object.freeze(legacy.source) } : {}),
    });
    start = end + 1;
    if ((i & 255) === 255) await slicer.maybeYield();
  }
  if (start !== data.length) throw corrupt(`${file} has more records than ${rows}`);
  return position;
}
