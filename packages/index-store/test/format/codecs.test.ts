import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { POINTER_FILE, SNAPSHOTS_DIR } from '@lookalike/contracts';
import { readPointer, switchPointer } from '../../src';
import { encodeItem, encodeItemChunks, legacySource } from '../../src/format/items';
import {
  indexShardFile,
  parseVersionDirName,
  segmentFile,
  snapshotDir,
  versionDirName,
} from '../../src/format/layout';
import { decodeManifest, encodeManifest, type Manifest } from '../../src/format/manifest';
import { decodePointer, encodePointer } from '../../src/format/pointer';
import { FAISS_HEADER_BYTES, checkFaissHeader, encodeFaissHeader } from '../../src/format/vectors';
import { TEST_MODEL, tempDataDir } from '../helpers';

const SHA = 'c'.repeat(64);

describe('format codecs', () => {
  it('layout: the contracts names, v + 12 digits per version', () => {
    expect(POINTER_FILE).toBe('CURRENT');
    expect(SNAPSHOTS_DIR).toBe('snapshots');
    expect(versionDirName(7)).toBe('v000000000007');
    expect(parseVersionDirName('v000000000007')).toBe(7);
    expect(parseVersionDirName('v7')).toBeNull();
    expect(snapshotDir('/data', 7)).toBe(path.join('/data', 'snapshots', 'v000000000007'));
    expect(indexShardFile(3)).toBe('index.00003.faiss');
  });

  it('pointer: round trip, refusals with a reason, atomic switch', async () => {
    const pointer = { version: 7, manifestSha256: SHA };
    expect(encodePointer(pointer)).toBe(`{"version":7,"manifestSha256":"${SHA}"}\n`);
    expect(decodePointer(encodePointer(pointer))).toEqual(pointer);
    expect(() => decodePointer('nope')).toThrow('pointer CURRENT is not JSON');
    expect(() => decodePointer(`{"version":0,"manifestSha256":"${SHA}"}`)).toThrow('no valid version');
    expect(() => decodePointer('{"version":1,"manifestSha256":"abc"}')).toThrow('no valid manifestSha256');
    const data = tempDataDir();
    try {
      expect(await readPointer(data.dir)).toBeNull();
      await switchPointer(data.dir, pointer);
      expect(readFileSync(path.join(data.dir, 'CURRENT'), 'utf8')).toBe(encodePointer(pointer));
      await switchPointer(data.dir, { version: 8, manifestSha256: SHA });
      expect(await readPointer(data.dir)).toEqual({ version: 8, manifestSha256: SHA });
      // No temp file is left behind.
      expect(readdirSync(data.dir)).toEqual(['CURRENT']);
    } finally {
      data.cleanup();
    }
    expect(existsSync(data.dir)).toBe(false);
  });

  it('manifest: round trip, and every file it must list a checksum for', () => {
    const manifest: Manifest = {
      format: 'lookalike-snapshot/1',
      version: 3,
      createdAt: '2026-01-01T00:00:00.000Z',
      basedOn: 2,
      fence: 5,
      model: TEST_MODEL,
      dimension: TEST_MODEL.dimension,
      count: 3,
      shardSize: 2,
      projection: null,
      segments: null,
      metric: 'inner_product',
      files: {
        [indexShardFile(0)]: { bytes: 1, sha256: SHA },
        [indexShardFile(1)]: { bytes: 1, sha256: SHA },
        'items.ndjson': { bytes: 1, sha256: SHA },
        'attachments/r.json': { bytes: 1, sha256: SHA },
      },
      attachments: ['r.json'],
    };
    expect(decodeManifest(encodeManifest(manifest))).toEqual(manifest);
    const { [indexShardFile(1)]: _dropped, ...missingShard } = manifest.files;
    expect(() => decodeManifest(encodeManifest({ ...manifest, files: missingShard }))).toThrow(
      'manifest lists no checksum for index.00001.faiss',
    );
    expect(() =>
      decodeManifest(encodeManifest({ ...manifest, format: 'other' as Manifest['format'] })),
    ).toThrow('unknown manifest format');
  });

  it('manifest format 2: segments with dead rows and a projection round trip; every listed file is required', () => {
    const projection = {
      kind: 'test',
      id: '0123456789abcdef',
      model: TEST_MODEL,
      inputDimension: TEST_MODEL.dimension,
      outputDimension: 8,
      fittedOn: 10,
      fittedAt: '2026-01-01T00:00:00.000Z',
      inputPower: 1,
    };
    const entry = { bytes: 1, sha256: SHA };
    const manifest: Manifest = {
      format: 'lookalike-snapshot/2',
      version: 7,
      createdAt: '2026-01-01T00:00:00.000Z',
      basedOn: 6,
      fence: 5,
      model: TEST_MODEL,
      dimension: 8,
      count: 5,
      shardSize: 0,
      projection,
      segments: [
        { id: 3, rows: 4, dead: [0, 2] },
        { id: 7, rows: 3, dead: [] },
      ],
      metric: 'inner_product',
      files: Object.fromEntries(
        [
          'projection.bin',
          ...[3, 7].flatMap((id) =>
            (['served', 'raw', 'items'] as const).map((kind) => segmentFile(id, kind)),
          ),
        ].map((name) => [name, entry]),
      ),
      attachments: [],
    };
    expect(decodeManifest(encodeManifest(manifest))).toEqual(manifest);
    const { [segmentFile(3, 'raw')]: _raw, ...noRaw } = manifest.files;
    expect(() => decodeManifest(encodeManifest({ ...manifest, files: noRaw }))).toThrow(
      'manifest lists no checksum for seg.000000000003.raw.f32',
    );
    expect(() => decodeManifest(encodeManifest({ ...manifest, count: 6 }))).toThrow(
      '5 live rows, count says 6',
    );
    expect(() =>
      decodeManifest(
        encodeManifest({ ...manifest, projection: { ...projection, model: { ...TEST_MODEL, id: 'x' } } }),
      ),
    ).toThrow('projection was fitted for another model');
    expect(() => decodeManifest(encodeManifest({ ...manifest, dimension: 9 }))).toThrow(
      'differs from its projection output dimension',
    );
    expect(() =>
      decodeManifest(
        encodeManifest({
          ...manifest,
          segments: [
            { id: 3, rows: 4, dead: [2, 0] },
            { id: 7, rows: 3, dead: [] },
          ],
        }),
      ),
    ).toThrow('invalid dead rows');
  });

  it('vectors: the IndexFlatIP header faiss writes, and what is wrong with another', () => {
    const header = encodeFaissHeader(4, 10);
    expect(header).toHaveLength(FAISS_HEADER_BYTES);
    expect(header.toString('latin1', 0, 4)).toBe('IxFI');
    expect(checkFaissHeader(header, 4, 10)).toBeNull();
    expect(checkFaissHeader(header, 8, 10)).toBe('index dimension 4 ≠ 8');
    expect(checkFaissHeader(header, 4, 11)).toBe('index holds 10 vectors ≠ 11');
    expect(checkFaissHeader(header.subarray(0, 10), 4, 10)).toBe('index header is truncated');
  });

  it('items: one JSON line per item, written in at least two parts; legacy _source read back', () => {
    const item = { id: 'a', metadata: { colour: 'red' }, contentHash: 'h', indexedAt: 'now' };
    expect(encodeItem(item)).toBe(
      '{"id":"a","metadata":{"colour":"red"},"contentHash":"h","indexedAt":"now"}\n',
    );
    expect(encodeItem({ ...item, source: { blob: SHA } })).toContain(`"source":{"blob":"${SHA}"}`);
    const parts = [...encodeItemChunks([item, { ...item, id: 'b' }])];
    expect(parts.length).toBeGreaterThanOrEqual(2);
    expect(Buffer.concat(parts).toString()).toBe(encodeItem(item) + encodeItem({ ...item, id: 'b' }));
    expect(legacySource({ colour: 'red', _source: 'url:https://x/a.jpg' })).toEqual({
      metadata: { colour: 'red' },
      source: { imageUrl: 'https://x/a.jpg' },
    });
    expect(legacySource({ colour: 'red' })).toBeNull();
  });
});
