import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  EmbeddingsCacheStaleError,
  cacheKey,
  readEmbeddingsCache,
  writeEmbeddingsCache,
} from '../src/evaluation/embeddings-cache';

const model = { id: 'm', sha256: 'c'.repeat(64), dimension: 3 };

describe('eval embeddings cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lookalike-cache-'));
    await writeFile(path.join(dir, '1.jpg'), 'one');
    await writeFile(path.join(dir, '2.jpg'), 'two!');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const items = [
    { id: '1', imagePath: '1.jpg' },
    { id: '2', imagePath: '2.jpg' },
  ];

  it('round-trips embeddings, failed images included, and refuses a stale cache', async () => {
    const file = path.join(dir, 'cache', 'emb.bin');
    const key = await cacheKey(model, 'crop', items, dir);
    expect(await readEmbeddingsCache(file, key, model, 2)).toBeNull();
    const embedded = [null, { vector: Float32Array.from([1, 2, 3]), colour: Float32Array.from([0.5, 0.5]) }];
    await writeEmbeddingsCache(file, key, model, embedded);
    expect(await readEmbeddingsCache(file, key, model, 2)).toEqual(embedded);

    // Another model, another preprocessing, or a touched image: refused, never silently reused.
    await expect(readEmbeddingsCache(file, key, { ...model, sha256: 'd'.repeat(64) }, 2)).rejects.toThrow(
      EmbeddingsCacheStaleError,
    );
    expect(await cacheKey(model, 'letterbox', items, dir)).not.toBe(key);
    await utimes(path.join(dir, '2.jpg'), new Date(), new Date(Date.now() + 5000));
    const touched = await cacheKey(model, 'crop', items, dir);
    expect(touched).not.toBe(key);
    await expect(readEmbeddingsCache(file, touched, model, 2)).rejects.toMatchObject({
      code: 'EVAL_CACHE_STALE',
    });
    await expect(readEmbeddingsCache(file, key, model, 3)).rejects.toThrow(EmbeddingsCacheStaleError);
  });
});
