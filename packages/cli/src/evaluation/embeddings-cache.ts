import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LookalikeError } from '@lookalike/config';
import type { ModelIdentity } from '@lookalike/contracts';

/** `--embeddings-cache` holds embeddings of other images or of another model: re-embed or delete it. */
export class EmbeddingsCacheStaleError extends LookalikeError {
  constructor(file: string, reason: string) {
    super(
      'EVAL_CACHE_STALE',
      `embeddings cache ${file} does not match this run (${reason}); delete it to re-embed`,
    );
  }
}

export interface CachedEmbedding {
  vector: Float32Array;
  colour: Float32Array;
}

export interface CacheItem {
  id: string;
  imagePath: string;
}

const MAGIC = 'LKEVALC1';

/**
 * What the cached embeddings depend on: the model file(s) (sha256), the preprocessing fit, and every
 * image by id, path, size and mtime. Any change gives another key, and the cache is refused rather
 * than silently mixing embeddings of different images.
 */
export async function cacheKey(
  model: ModelIdentity,
  fit: string,
  items: readonly CacheItem[],
  root: string,
): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${model.id}\n${model.sha256}\n${model.dimension}\n${fit}\n`);
  for (const item of items) {
    const s = await stat(path.join(root, item.imagePath));
    hash.update(`${item.id}\t${item.imagePath}\t${s.size}\t${Math.round(s.mtimeMs)}\n`);
  }
  return hash.digest('hex');
}

interface CacheHeader {
  key: string;
  model: ModelIdentity;
  count: number;
  colourLength: number;
  /** Per item (in the run's order): embedded or not (an image that failed stays failed). */
  present: boolean[];
}

/**
 * Layout: MAGIC, uint32 header length, JSON header, padding to 4 bytes, then for the present items
 * count × dimension vector floats and count × colourLength colour floats (little-endian).
 */
export async function readEmbeddingsCache(
  file: string,
  key: string,
  model: ModelIdentity,
  count: number,
): Promise<Array<CachedEmbedding | null> | null> {
  if (!existsSync(file)) return null;
  const buf = await readFile(file);
  if (buf.length < MAGIC.length + 4 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC)
    throw new EmbeddingsCacheStaleError(file, 'not an embeddings cache');
  const jsonLength = buf.readUInt32LE(MAGIC.length);
  const headerEnd = MAGIC.length + 4 + jsonLength;
  const header = JSON.parse(buf.toString('utf8', MAGIC.length + 4, headerEnd)) as CacheHeader;
  if (header.model.sha256 !== model.sha256 || header.model.id !== model.id)
    throw new EmbeddingsCacheStaleError(file, `embedded with ${header.model.id}, this run uses ${model.id}`);
  if (header.count !== count)
    throw new EmbeddingsCacheStaleError(file, `${header.count} items, not ${count}`);
  if (header.key !== key) throw new EmbeddingsCacheStaleError(file, 'images changed since it was written');
  const present = header.present.filter(Boolean).length;
  const floatsAt = Math.ceil(headerEnd / 4) * 4;
  const d = model.dimension;
  const c = header.colourLength;
  if (buf.length !== floatsAt + present * (d + c) * 4) throw new EmbeddingsCacheStaleError(file, 'truncated');
  const floats = new Float32Array(present * (d + c));
  Buffer.from(floats.buffer).set(buf.subarray(floatsAt));
  const out: Array<CachedEmbedding | null> = [];
  let k = 0;
  for (const p of header.present) {
    if (!p) {
      out.push(null);
      continue;
    }
    out.push({
      vector: floats.slice(k * d, (k + 1) * d),
      colour: floats.slice(present * d + k * c, present * d + (k + 1) * c),
    });
    k++;
  }
  return out;
}

export async function writeEmbeddingsCache(
  file: string,
  key: string,
  model: ModelIdentity,
  embedded: ReadonlyArray<CachedEmbedding | null>,
): Promise<void> {
  const present = embedded.filter((e): e is CachedEmbedding => e !== null);
  const colourLength = present[0]?.colour.length ?? 0;
  const header: CacheHeader = {
    key,
    model: { id: model.id, sha256: model.sha256, dimension: model.dimension },
    count: embedded.length,
    colourLength,
    present: embedded.map((e) => e !== null),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headerEnd = MAGIC.length + 4 + json.length;
  const floatsAt = Math.ceil(headerEnd / 4) * 4;
  const d = model.dimension;
  const out = Buffer.alloc(floatsAt + present.length * (d + colourLength) * 4);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(json.length, MAGIC.length);
  json.copy(out, MAGIC.length + 4);
  const floats = new Float32Array(out.buffer, out.byteOffset + floatsAt, present.length * (d + colourLength));
  present.forEach((e, k) => {
    floats.set(e.vector, k * d);
    floats.set(e.colour, present.length * d + k * colourLength);
  });
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  // Written aside and renamed, so an interrupted run never leaves a half cache that reads as valid.
  await writeFile(`${file}.tmp`, out);
  await rename(`${file}.tmp`, file);
}
