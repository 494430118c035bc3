import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { SnapshotReader, SnapshotWriter, type Snapshot } from '../../src';
import { versionDirName } from '../../src/format/layout';
import type { Manifest } from '../../src/format/manifest';
import { COMPACTION } from '../../src/publish/segment-plan';
import { TEST_MODEL, item, maxDiff, orthonormalProjection, rng, tempDataDir, unitVector } from '../helpers';

const model = TEST_MODEL; // d = 32

function manifestOf(dataDir: string, version: number): Manifest {
  return JSON.parse(
    readFileSync(path.join(dataDir, 'snapshots', versionDirName(version), 'manifest.json'), 'utf8'),
  ) as Manifest;
}

/** Bytes of the files of `version` that are not hard links shared with another version (inode count 1). */
function unsharedBytes(dataDir: string, version: number): number {
  const dir = path.join(dataDir, 'snapshots', versionDirName(version));
  let bytes = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const stat = statSync(path.join(d, name));
      if (stat.isDirectory()) walk(path.join(d, name));
      else if (stat.nlink === 1) bytes += stat.size;
    }
  };
  walk(dir);
  return bytes;
}

describe.each([{ projected: false }, { projected: true }])(
  'segments: small changes cost about their size (projection: $projected)',
  ({ projected }) => {
    let data: ReturnType<typeof tempDataDir>;
    beforeEach(() => {
      data = tempDataDir('index-store-segments-');
    });
    afterEach(() => data.cleanup());

    const projection = orthonormalProjection(model, 8, 41);
    const served = (raw: Float32Array) => (projected ? projection.project(raw) : raw);

    function expectContent(snapshot: Snapshot, expected: Map<string, Float32Array>): void {
      expect(snapshot.count).toBe(expected.size);
      expect(new Set(snapshot.ids())).toEqual(new Set(expected.keys()));
      for (const [id, raw] of expected)
        expect(maxDiff(snapshot.vectorOf(id) as Float32Array, served(raw))).toBeLessThan(1e-5);
    }

    it('many small publishes: content exact, segments bounded, new bytes ≈ the change, GC keeps linked data', async () => {
      const writer = await SnapshotWriter.open({ dataDir: data.dir, model, gcGraceMs: 0, keepVersions: 2 });
      const random = rng(7);
      const expected = new Map<string, Float32Array>();
      const upserts = Array.from({ length: 3000 }, (_, i) => {
        const v = unitVector(random, model.dimension);
        expected.set(`b${i}`, v);
        return item(`b${i}`, v, { n: i });
      });
      const first = await writer.publish({
        upserts,
        deletes: [],
        ...(projected ? { projection, projectionReplaces: null } : {}),
      });
      let last = first.version;
      for (let round = 0; round < 60; round++) {
        const ids = [...expected.keys()];
        const change = {
          upserts: [
            // One new item and (every other round) one replaced.
            item(`n${round}`, unitVector(random, model.dimension)),
            ...(round % 2
              ? [item(ids[Math.floor(random() * ids.length)] as string, unitVector(random, model.dimension))]
              : []),
          ],
          deletes: round % 3 === 0 ? [ids[Math.floor(random() * ids.length)] as string] : [],
        };
        for (const id of change.deletes) expected.delete(id);
        for (const u of change.upserts) expected.set(u.id, u.vector);
        const result = await writer.publish(change);
        expect(result.published).toBe(true);
        const manifest = manifestOf(data.dir, result.version);
        expect(manifest.segments!.length).toBeLessThanOrEqual(COMPACTION.MAX_SEGMENTS);
        // What the result says it wrote is what the new directory holds that no other version shares.
        expect(result.bytesWritten).toBe(unsharedBytes(data.dir, result.version));
        // A small change never rewrites the 3000-item base segment.
        expect(manifest.segments![0]!.id).toBe(first.version);
        expect(result.bytesWritten).toBeLessThan(first.bytesWritten / 4);
        last = result.version;
      }
      expectContent((await writer.latest()) as Snapshot, expected);
      // Old versions were collected; the current one's linked files live on, and a fresh reader loads it.
      const versions = readdirSync(path.join(data.dir, 'snapshots'));
      expect(versions).toEqual([versionDirName(last - 1), versionDirName(last)]);
      const reader = await SnapshotReader.open({
        dataDir: data.dir,
        expectedModel: model,
        pollIntervalMs: 60_000,
      });
      expectContent(reader.current() as Snapshot, expected);
      expect(reader.current()?.get('b5')).toEqual((await writer.latest())?.get('b5'));
      await reader.close();
      await writer.close();
    });

    it('more dead rows than MAX_DEAD_FRACTION: everything is rewritten into one segment', async () => {
      const writer = await SnapshotWriter.open({ dataDir: data.dir, model, gcGraceMs: 0 });
      const random = rng(8);
      const expected = new Map<string, Float32Array>();
      const upserts = Array.from({ length: 400 }, (_, i) => {
        const v = unitVector(random, model.dimension);
        expected.set(`d${i}`, v);
        return item(`d${i}`, v);
      });
      await writer.publish({
        upserts,
        deletes: [],
        ...(projected ? { projection, projectionReplaces: null } : {}),
      });
      // Deletes only: tombstones, no segment written.
      const few = await writer.publish({ upserts: [], deletes: ['d0', 'd1'] });
      expect(manifestOf(data.dir, few.version).segments).toEqual([{ id: 1, rows: 400, dead: [0, 1] }]);
      expect(few.bytesWritten).toBeLessThan(4000);
      const many = Array.from({ length: 110 }, (_, i) => `d${i + 2}`);
      const compacted = await writer.publish({ upserts: [], deletes: many });
      for (const id of ['d0', 'd1', ...many]) expected.delete(id);
      expect(manifestOf(data.dir, compacted.version).segments).toEqual([
        { id: compacted.version, rows: 288, dead: [] },
      ]);
      expectContent((await writer.latest()) as Snapshot, expected);
      const reader = await SnapshotReader.open({
        dataDir: data.dir,
        expectedModel: model,
        pollIntervalMs: 60_000,
      });
      expectContent(reader.current() as Snapshot, expected);
      await reader.close();
      await writer.close();
    });
  },
);
