import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ProjectionConflictError,
  ProjectionModelMismatchError,
  SnapshotReader,
  SnapshotWriter,
  type Snapshot,
} from '../../src';
import { segmentFile, versionDirName } from '../../src/format/layout';
import {
  TEST_MODEL,
  item,
  maxDiff,
  orthonormalProjection,
  rng,
  tempDataDir,
  unitVector,
  waitFor,
} from '../helpers';

const model = TEST_MODEL; // d = 32
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

function rawVectors(count: number, seed: number): Map<string, Float32Array> {
  const random = rng(seed);
  return new Map(Array.from({ length: count }, (_, i) => [`p${i}`, unitVector(random, model.dimension)]));
}

function filesOf(dataDir: string, version: number): string[] {
  return readdirSync(path.join(dataDir, 'snapshots', versionDirName(version))).sort();
}

describe('projection: compact served vectors, raw kept aside', () => {
  let data: ReturnType<typeof tempDataDir>;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(() => {
    data = tempDataDir('index-store-projection-');
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    data.cleanup();
  });

  async function openWriter(): Promise<SnapshotWriter> {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model, gcGraceMs: 0 });
    closers.push(() => writer.close());
    return writer;
  }

  it('served vectors after setting a projection equal LinearProjection.project of the raw ones (BLAS slices)', async () => {
    const writer = await openWriter();
    // More rows than one projection slice (4096), so the sliced route and its joins are exercised.
    const raw = rawVectors(4500, 4);
    await writer.publish({ upserts: [...raw].map(([id, v]) => item(id, v)), deletes: [] });
    const projection = orthonormalProjection(model, 8, 3);
    await writer.publish({ upserts: [], deletes: [], projection, projectionReplaces: null });
    const snapshot = (await writer.latest()) as Snapshot;
    for (const id of ['p0', 'p4095', 'p4096', 'p4499'])
      expect(
        maxDiff(snapshot.vectorOf(id) as Float32Array, projection.project(raw.get(id) as Float32Array)),
      ).toBeLessThan(1e-5);
  });

  it('sets, applies to upserts, replaces and clears a projection; served = raw is stored once', async () => {
    const writer = await openWriter();
    const raw = rawVectors(300, 1);
    await writer.publish({ upserts: [...raw].map(([id, v]) => item(id, v, { n: id })), deletes: [] });
    // Without a projection: served are the raw vectors, no raw file beside them.
    expect(filesOf(data.dir, 1).filter((f) => f.includes('.raw.'))).toEqual([]);
    let snapshot = (await writer.latest()) as Snapshot;
    expect(snapshot.projection).toBeNull();
    expect(snapshot.projector()).toBeNull();
    expect(snapshot.dimension).toBe(model.dimension);

    const p1 = orthonormalProjection(model, 8, 11);
    const set = await writer.publish({ upserts: [], deletes: [], projection: p1, projectionReplaces: null });
    expect(set).toMatchObject({ published: true, version: 2, count: 300 });
    snapshot = (await writer.latest()) as Snapshot;
    expect(snapshot.projection).toEqual(p1.descriptor);
    expect(snapshot.projector()?.descriptor.id).toBe(p1.descriptor.id);
    expect(snapshot.dimension).toBe(8);
    expect(snapshot.model).toEqual(model);
    for (const [id, v] of raw)
      expect(maxDiff(snapshot.vectorOf(id) as Float32Array, p1.project(v))).toBeLessThan(1e-5);
    expect(filesOf(data.dir, 2)).toEqual(
      [
        'manifest.json',
        'projection.bin',
        segmentFile(2, 'items'),
        segmentFile(2, 'raw'),
        segmentFile(2, 'served'),
      ].sort(),
    );
    expect(
      readFileSync(path.join(data.dir, 'snapshots', versionDirName(2), segmentFile(2, 'served'))).length,
    ).toBe(300 * 8 * 4);

    // Upserts stay raw: the writer projects them with the version's projection.
    const fresh = unitVector(rng(99), model.dimension);
    await writer.publish({ upserts: [item('fresh', fresh)], deletes: ['p0'] });
    snapshot = (await writer.latest()) as Snapshot;
    expect(maxDiff(snapshot.vectorOf('fresh') as Float32Array, p1.project(fresh))).toBeLessThan(1e-5);
    const projectedQuery = snapshot.projector()!.project(fresh);
    expect(snapshot.search(projectedQuery, { k: 1 })[0]?.id).toBe('fresh');
    expect(snapshot.has('p0')).toBe(false);

    // A reader serves it: the compact vectors and the projection to apply to queries.
    const reader = await SnapshotReader.open({ dataDir: data.dir, expectedModel: model, pollIntervalMs: 50 });
    closers.push(() => reader.close());
    expect(reader.current()?.projection?.id).toBe(p1.descriptor.id);
    expect(reader.current()?.search(projectedQuery, { k: 1 })[0]?.id).toBe('fresh');

    // A new fit, named as replacing p1: re-projected from the stored raw vectors, no re-embedding.
    const p2 = orthonormalProjection(model, 5, 12);
    await writer.publish({ upserts: [], deletes: [], projection: p2, projectionReplaces: p1.descriptor.id });
    snapshot = (await writer.latest()) as Snapshot;
    expect(snapshot.dimension).toBe(5);
    expect(maxDiff(snapshot.vectorOf('fresh') as Float32Array, p2.project(fresh))).toBeLessThan(1e-5);
    expect(maxDiff(snapshot.vectorOf('p7') as Float32Array, p2.project(raw.get('p7')!))).toBeLessThan(1e-5);
    await waitFor(() => reader.current()?.projection?.id === p2.descriptor.id, 5000, 'the reader on p2');

    // Cleared: served are the raw vectors again, exactly (read back from the raw files).
    await writer.publish({
      upserts: [],
      deletes: [],
      projection: null,
      projectionReplaces: p2.descriptor.id,
    });
    snapshot = (await writer.latest()) as Snapshot;
    expect(snapshot.projection).toBeNull();
    expect(Array.from(snapshot.vectorOf('p7')!)).toEqual(Array.from(raw.get('p7')!));
    expect(Array.from(snapshot.vectorOf('fresh')!)).toEqual(Array.from(fresh));
    expect(snapshot.count).toBe(300);
  });

  it('refuses a projection of another model, and one that replaces a projection no longer current (two writers)', async () => {
    const first = await openWriter();
    const second = await openWriter();
    await first.publish({ upserts: [...rawVectors(50, 2)].map(([id, v]) => item(id, v)), deletes: [] });
    const foreign = orthonormalProjection({ ...model, id: 'other-model' }, 8, 5);
    const refused = first.publish({
      upserts: [],
      deletes: [],
      projection: foreign,
      projectionReplaces: null,
    });
    await expect(refused).rejects.toBeInstanceOf(ProjectionModelMismatchError);
    await expect(refused).rejects.toMatchObject({ code: 'PROJECTION_MODEL_MISMATCH' });

    // Both fitted on the projection-less version; the first to publish wins, the other is refused.
    const fitA = orthonormalProjection(model, 8, 21);
    const fitB = orthonormalProjection(model, 8, 22);
    await first.publish({ upserts: [], deletes: [], projection: fitA, projectionReplaces: null });
    const late = second.publish({ upserts: [], deletes: [], projection: fitB, projectionReplaces: null });
    await expect(late).rejects.toBeInstanceOf(ProjectionConflictError);
    await expect(late).rejects.toMatchObject({ code: 'PROJECTION_CONFLICT', permanent: true });
    expect((await second.latest())?.projection?.id).toBe(fitA.descriptor.id);
    // Refit on top of the current one: accepted.
    await second.publish({
      upserts: [],
      deletes: [],
      projection: fitB,
      projectionReplaces: fitA.descriptor.id,
    });
    expect((await first.latest())?.projection?.id).toBe(fitB.descriptor.id);
    // Plain upserts need no projection id at all; the same projection again is no change.
    const again = await first.publish({
      upserts: [],
      deletes: [],
      projection: fitB,
      projectionReplaces: fitB.descriptor.id,
    });
    expect(again.published).toBe(false);
  });

  it('readers never open raw files, and refuse (keep serving) a snapshot whose projection does not fit', async () => {
    const writer = await openWriter();
    const raw = rawVectors(80, 3);
    const p1 = orthonormalProjection(model, 8, 31);
    await writer.publish({
      upserts: [...raw].map(([id, v]) => item(id, v)),
      deletes: [],
      projection: p1,
      projectionReplaces: null,
    });
    const v1 = path.join(data.dir, 'snapshots', versionDirName(1));
    // Take the raw file away: a reader does not notice.
    renameSync(path.join(v1, segmentFile(1, 'raw')), path.join(data.dir, 'raw-aside'));
    const reader = await SnapshotReader.open({ dataDir: data.dir, expectedModel: model, pollIntervalMs: 50 });
    closers.push(() => reader.close());
    expect(reader.current()?.version).toBe(1);
    expect(reader.current()?.dimension).toBe(8);
    renameSync(path.join(data.dir, 'raw-aside'), path.join(v1, segmentFile(1, 'raw')));

    const rejections: string[] = [];
    reader.on('reject', (_version, reason) => rejections.push(reason));
    /** Copies version 1 to `to` with projection.bin and its manifest entries replaced, and points CURRENT at it. */
    const stage = (to: number, bytes: Uint8Array, descriptor: object) => {
      const dir = path.join(data.dir, 'snapshots', versionDirName(to));
      cpSync(v1, dir, { recursive: true });
      writeFileSync(path.join(dir, 'projection.bin'), bytes);
      const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
        version: number;
        projection: unknown;
        files: Record<string, unknown>;
      };
      manifest.version = to;
      manifest.projection = descriptor;
      manifest.files['projection.bin'] = { bytes: bytes.length, sha256: sha256(bytes) };
      const text = JSON.stringify(manifest);
      writeFileSync(path.join(dir, 'manifest.json'), text);
      writeFileSync(
        path.join(data.dir, 'CURRENT'),
        JSON.stringify({ version: to, manifestSha256: sha256(text) }),
      );
    };
    // A projection of another model, consistently described: refused as a whole.
    const foreign = orthonormalProjection({ ...model, id: 'other-model' }, 8, 32);
    stage(50, foreign.encode(), foreign.descriptor);
    await waitFor(() => rejections.length === 1, 5000, 'rejection of a foreign projection');
    expect(rejections[0]).toMatch(/projection was fitted for another model/);
    // projection.bin of another fit than the manifest names (self-consistent checksum).
    const other = orthonormalProjection(model, 8, 33);
    stage(51, other.encode(), p1.descriptor);
    await waitFor(() => rejections.length === 2, 5000, 'rejection of a mismatched projection file');
    expect(rejections[1]).toMatch(/projection.bin is projection [0-9a-f]{16}, the manifest names/);
    // A projection onto another dimension than the served vectors.
    const wide = orthonormalProjection(model, 9, 34);
    stage(52, wide.encode(), wide.descriptor);
    await waitFor(() => rejections.length === 3, 5000, 'rejection of a projection of another width');
    expect(rejections[2]).toMatch(/differs from its projection output dimension/);
    expect(reader.current()?.version).toBe(1);
    expect(reader.current()?.projection?.id).toBe(p1.descriptor.id);
    const query = p1.project(raw.get('p3')!);
    expect(reader.current()?.search(query, { k: 1 })[0]?.id).toBe('p3');
  });

  it('reads a format-1 snapshot and publishes on it (rewritten as format 2)', async () => {
    cpSync(path.join(__dirname, '..', 'fixtures', 'format1'), data.dir, { recursive: true });
    const legacyModel = { ...model, dimension: 16 };
    const reader = await SnapshotReader.open({
      dataDir: data.dir,
      expectedModel: legacyModel,
      pollIntervalMs: 50,
    });
    closers.push(() => reader.close());
    const old = reader.current() as Snapshot;
    expect(old).toMatchObject({ version: 1, count: 20, projection: null, dimension: 16 });
    expect(Buffer.from(old.attachment('note.txt')!).toString()).toBe('format 1');
    const oldVectors = new Map([...old.ids()].map((id) => [id, old.vectorOf(id)!]));

    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: legacyModel, gcGraceMs: 0 });
    closers.push(() => writer.close());
    const added = unitVector(rng(5), 16);
    await writer.publish({ upserts: [item('added', added)], deletes: ['old-3'] });
    await waitFor(() => reader.current()?.version === 2, 5000, 'version 2');
    const next = reader.current() as Snapshot;
    expect([...next.ids()]).toEqual([...[...old.ids()].filter((id) => id !== 'old-3'), 'added']);
    for (const [id, v] of oldVectors)
      if (id !== 'old-3') expect(Array.from(next.vectorOf(id)!)).toEqual(Array.from(v));
    expect(next.get('old-5')).toEqual(old.get('old-5'));
    expect(Buffer.from(next.attachment('note.txt')!).toString()).toBe('format 1');
    const manifest = JSON.parse(
      readFileSync(path.join(data.dir, 'snapshots', versionDirName(2), 'manifest.json'), 'utf8'),
    );
    expect(manifest.format).toBe('lookalike-snapshot/2');
    // And a projection can follow: the old items' raw vectors are the format-1 vectors.
    const projection = orthonormalProjection(legacyModel, 4, 6);
    await writer.publish({ upserts: [], deletes: [], projection, projectionReplaces: null });
    await waitFor(() => reader.current()?.version === 3, 5000, 'version 3');
    expect(
      maxDiff(reader.current()!.vectorOf('old-5')!, projection.project(oldVectors.get('old-5')!)),
    ).toBeLessThan(1e-5);
    // The old version's directory is still a format-1 one (GC keeps it within keepVersions).
    expect(existsSync(path.join(data.dir, 'snapshots', versionDirName(1), 'index.00000.faiss'))).toBe(true);
    rmSync(path.join(data.dir, 'snapshots', versionDirName(1)), { recursive: true });
  });
});
