import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalJson, contentHash, HASHED_SOURCE_KEY, itemContentHash, sha256Hex } from '../src/hash';
import { BlobStore, imageRefOf, loadableRef, sourceOf } from '../src/source-ref';

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

describe('canonicalJson (RFC 8785)', () => {
  /** The sorted-keys JSON the indexer hashed with before RFC 8785: every stored hash was made by it. */
  function sortedKeysJson(value: unknown): string {
    if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
    if (Array.isArray(value)) return `[${value.map(sortedKeysJson).join(',')}]`;
    const record = value as Record<string, unknown>;
    const entries = Object.keys(record)
      .sort()
      .filter((k) => record[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${sortedKeysJson(record[k])}`);
    return `{${entries.join(',')}}`;
  }

  it('is the old canonical text for metadata: any key order and case, unicode, escapes, any finite number', () => {
    const strings = [
      '',
      'Navy Blue',
      'ümlaut',
      '日本語',
      '😀 emoji',
      'quote " and \\',
      'tab\tnew\nline\u0001',
      '\u2028',
    ];
    const numbers = [0, -0, 1, -1, 2011, 0.1, 1 / 3, 1e21, 1e-7, -123.456, Number.MAX_SAFE_INTEGER, 5e-324];
    const keys = ['b', 'a', 'B', 'A', '_x', 'z9', 'Z_1', 'year', 'baseColour', 'é', 'ab', 'a_b', '10', '9'];
    // Deterministic pseudo-random metadata objects over those keys and values.
    let seed = 42;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 500; round++) {
      const metadata: Record<string, string | number> = {};
      for (let i = next(keys.length) + 1; i > 0; i--) {
        const key = keys[next(keys.length)] as string;
        metadata[key] = next(2)
          ? (strings[next(strings.length)] as string)
          : (numbers[next(numbers.length)] as number);
      }
      expect(canonicalJson(metadata)).toBe(sortedKeysJson(metadata));
    }
    expect(canonicalJson({ b: 1, a: 'x', é: 0.1 })).toBe('{"a":"x","b":1,"é":0.1}');
  });
});

describe('itemContentHash', () => {
  const bytes = Buffer.from('image bytes');
  const sources = [
    { imagePath: '1.jpg' },
    { imageUrl: 'https://x.test/a:b.jpg' },
    { blob: 'a'.repeat(64) },
  ] as const;

  it('is the hash items had when their source rode in the metadata as _source (pinned values)', () => {
    // Computed by the indexer before items had a `source` field, from metadata + `_source: "<kind>:<ref>"`.
    const pinned = [
      '3bfb32cdcd23896c9af750d385da6626193bc1331267cb933f1a14d469b5df83',
      '3df68409038905e179689a299aa002f7b13d255c3879ce6d3a7a8cea084ecea9',
      'aeb6911a6f1a04745b4158bc86660e59832fe6b1b2d32778d3078aad05d84cfd',
    ];
    sources.forEach((source, i) => {
      expect(itemContentHash(bytes, { colour: 'red', n: 2 }, source, model)).toBe(pinned[i]);
    });
    expect(itemContentHash(bytes, { colour: 'red' }, { imagePath: '1.jpg' }, model)).toBe(
      contentHash(bytes, { colour: 'red', [HASHED_SOURCE_KEY]: 'path:1.jpg' }, model),
    );
  });

  it('changes with the source, and refuses the reserved key in caller metadata', () => {
    const hashes = sources.map((source) => itemContentHash(bytes, {}, source, model));
    expect(new Set(hashes).size).toBe(3);
    expect(() =>
      itemContentHash(
        bytes,
        { [HASHED_SOURCE_KEY]: 'url:https://evil.test/' },
        { imagePath: '1.jpg' },
        model,
      ),
    ).toThrow(expect.objectContaining({ code: 'ITEM_RESERVED_METADATA', permanent: true }));
  });
});

describe('source refs', () => {
  it("maps a job's image reference to the item's source and to what the image source loads", () => {
    const bytes = Buffer.from('inline bytes');
    expect(sourceOf({ id: 'a', metadata: {}, imageUrl: 'https://x.test/1.jpg' }, bytes)).toEqual({
      imageUrl: 'https://x.test/1.jpg',
    });
    expect(sourceOf({ id: 'a', metadata: {}, imagePath: 'dir/1.jpg' }, bytes)).toEqual({
      imagePath: 'dir/1.jpg',
    });
    const inline = sourceOf({ id: 'a', metadata: {}, imageBase64: bytes.toString('base64') }, bytes);
    expect(inline).toEqual({ blob: sha256Hex(bytes) });
    expect(imageRefOf({ id: 'a', metadata: { k: 'v' }, imagePath: 'dir/1.jpg' })).toEqual({
      imagePath: 'dir/1.jpg',
    });
    expect(imageRefOf({ id: 'a', metadata: {}, imageBase64: 'AAAA' })).toEqual({ imageBase64: 'AAAA' });
  });

  it('loads a stored source again: URL and path as they are, an upload from the blob store', async () => {
    const blobs = { get: async (hash: string) => Buffer.from(`bytes of ${hash}`) };
    expect(await loadableRef('a', { imageUrl: 'https://x.test/1.jpg' }, blobs)).toEqual({
      imageUrl: 'https://x.test/1.jpg',
    });
    expect(await loadableRef('a', { imagePath: '1.jpg' }, blobs)).toEqual({ imagePath: '1.jpg' });
    expect(await loadableRef('a', { blob: 'b'.repeat(64) }, blobs)).toEqual({
      bytes: Buffer.from(`bytes of ${'b'.repeat(64)}`),
    });
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

  it('stores a plain Uint8Array view (not a Buffer) byte for byte, and leaves no temp file', async () => {
    const blobs = new BlobStore(dir);
    const whole = new Uint8Array([0, 255, 1, 128, 7, 9, 200]);
    const view = whole.subarray(2, 6); // an offset into a larger buffer
    const hash = await blobs.put(view);
    expect(hash).toBe(sha256Hex(view));
    expect([...(await blobs.get(hash, 'item'))]).toEqual([1, 128, 7, 9]);
    expect(readdirSync(path.dirname(blobs.pathOf(hash)))).toEqual([hash]);
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
