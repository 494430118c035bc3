import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalJson, contentHash } from '../src/hash';
import {
  BlobStore,
  decodeSource,
  encodeSource,
  SOURCE_METADATA_KEY,
  storedMetadata,
  userMetadata,
} from '../src/source-ref';

const model = { id: 'm1', sha256: 'abc' };

describe('contentHash', () => {
  const bytes = Buffer.from('image bytes');
  it('ignores metadata key order', () => {
    expect(canonicalJson({ b: 1, a: 'x' })).toBe(canonicalJson({ a: 'x', b: 1 }));
    expect(contentHash(bytes, { b: 1, a: 'x' }, model)).toBe(contentHash(bytes, { a: 'x', b: 1 }, model));
  });
  it('changes with the bytes, any metadata value, its type, or the model', () => {
    const base = contentHash(bytes, { a: 'x' }, model);
    expect(contentHash(Buffer.from('image bytez'), { a: 'x' }, model)).not.toBe(base);
    expect(contentHash(bytes, { a: 'y' }, model)).not.toBe(base);
    expect(contentHash(bytes, { a: 1 }, { id: 'm1', sha256: 'abc' })).not.toBe(
      contentHash(bytes, { a: '1' }, model),
    );
    expect(contentHash(bytes, { a: 'x' }, { id: 'm2', sha256: 'abc' })).not.toBe(base);
    expect(contentHash(bytes, { a: 'x' }, { id: 'm1', sha256: 'abd' })).not.toBe(base);
  });
});

describe('source refs', () => {
  it('round-trips every kind and refuses garbage', () => {
    for (const source of [
      { imageUrl: 'https://x.test/a:b.jpg' },
      { imagePath: 'dir/1.jpg' },
      { blob: 'a'.repeat(64) },
    ]) {
      expect(decodeSource(encodeSource(source))).toEqual(source);
    }
    expect(decodeSource(undefined)).toBeNull();
    expect(decodeSource(42)).toBeNull();
    expect(decodeSource('blob:not-a-hash')).toBeNull();
    expect(decodeSource('ftp:x')).toBeNull();
    expect(decodeSource('url:')).toBeNull();
  });
  it('adds the reserved key and refuses it in caller metadata', () => {
    const stored = storedMetadata({ colour: 'red' }, { imagePath: '1.jpg' });
    expect(stored).toEqual({ colour: 'red', [SOURCE_METADATA_KEY]: 'path:1.jpg' });
    expect(userMetadata(stored)).toEqual({ colour: 'red' });
    expect(() =>
      storedMetadata({ [SOURCE_METADATA_KEY]: 'url:https://evil.test/' }, { imagePath: '1.jpg' }),
    ).toThrow(expect.objectContaining({ code: 'ITEM_RESERVED_METADATA', permanent: true }));
  });
});

describe('BlobStore', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'blobs-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stores bytes content-addressed, idempotently, and reads them back', async () => {
    const blobs = new BlobStore(dir);
    const hash = await blobs.put(Buffer.from('hello'));
    expect(await blobs.put(Buffer.from('hello'))).toBe(hash);
    expect((await blobs.get(hash, 'item')).toString()).toBe('hello');
    await expect(blobs.get('f'.repeat(64), 'item-x')).rejects.toMatchObject({ code: 'ITEM_NO_SOURCE' });
  });

  it('collects only unreferenced blobs older than the grace period', async () => {
    const blobs = new BlobStore(dir);
    const keep = await blobs.put(Buffer.from('keep'));
    const old = await blobs.put(Buffer.from('old'));
    const fresh = await blobs.put(Buffer.from('fresh'));
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(blobs.pathOf(old), past, past);
    utimesSync(blobs.pathOf(keep), past, past);
    expect(await blobs.collect(new Set([keep]), 60_000)).toBe(1);
    await expect(blobs.get(old, 'x')).rejects.toThrow();
    await expect(blobs.get(keep, 'x')).resolves.toBeDefined();
    await expect(blobs.get(fresh, 'x')).resolves.toBeDefined();
  });
});
