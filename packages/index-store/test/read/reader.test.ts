import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotNotFoundError, SnapshotReader, SnapshotWriter, type Snapshot } from '../../src';
import { HOST_TAG, segmentFile } from '../../src/format/layout';

const SERVED = segmentFile(1, 'served');
const ITEMS = segmentFile(1, 'items');
import { TEST_MODEL, item, rng, tempDataDir, unitVector, waitFor } from '../helpers';

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const vdir = (version: number): string => `v${String(version).padStart(12, '0')}`;

/** Points CURRENT at `version` the way a writer does (temp file + rename). */
function writePointer(dataDir: string, version: number, manifestSha256: string): void {
  writeFileSync(path.join(dataDir, 'CURRENT.test-tmp'), JSON.stringify({ version, manifestSha256 }));
  renameSync(path.join(dataDir, 'CURRENT.test-tmp'), path.join(dataDir, 'CURRENT'));
}

/**
 * Copies published version `from` to a new version number, lets `mutate` damage it, and points CURRENT
 * at it with a correct manifest checksum (so only the damage can make a reader reject it).
 */
function stageVersion(
  dataDir: string,
  from: number,
  to: number,
  mutate: (dir: string, manifest: Record<string, unknown>) => Record<string, unknown> | void,
): void {
  const dir = path.join(dataDir, 'snapshots', vdir(to));
  cpSync(path.join(dataDir, 'snapshots', vdir(from)), dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  manifest.version = to;
  const final = mutate(dir, manifest) ?? manifest;
  const text = JSON.stringify(final);
  writeFileSync(path.join(dir, 'manifest.json'), text);
  writePointer(dataDir, to, sha256(text));
}

function fileEntry(dir: string, name: string): { bytes: number; sha256: string } {
  const data = readFileSync(path.join(dir, name));
  return { bytes: data.length, sha256: sha256(data) };
}

describe('SnapshotReader', () => {
  let data: ReturnType<typeof tempDataDir>;
  const readers: SnapshotReader[] = [];
  beforeEach(() => {
    data = tempDataDir();
  });
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((r) => r.close()));
    data.cleanup();
  });

  async function openReader(
    options: Partial<Parameters<typeof SnapshotReader.open>[0]> = {},
  ): Promise<SnapshotReader> {
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 50, ...options });
    readers.push(reader);
    return reader;
  }

  it('starts empty before the first publish and hot-reloads each new version', async () => {
    const dataDir = path.join(data.dir, 'not-yet-created');
    const reader = await openReader({ dataDir });
    expect(reader.current()).toBeNull();
    const swaps: number[] = [];
    reader.on('swap', (s) => swaps.push(s.version));

    const writer = await SnapshotWriter.open({ dataDir, model: TEST_MODEL });
    const random = rng(1);
    const query = unitVector(random, TEST_MODEL.dimension);
    await writer.publish({ upserts: [item('a', query)], deletes: [] });
    await waitFor(() => reader.current()?.version === 1, 5000, 'version 1');
    const first = reader.current() as Snapshot;
    await writer.publish({ upserts: [item('b', unitVector(random, TEST_MODEL.dimension))], deletes: [] });
    await waitFor(() => reader.current()?.version === 2, 5000, 'version 2');
    expect(reader.current()?.count).toBe(2);
    // The snapshot a query held keeps answering from its own version.
    expect(first.count).toBe(1);
    expect(first.search(query, { k: 10 }).map((h) => h.id)).toEqual(['a']);
    expect(swaps).toEqual([1, 2]);
    expect(reader.reloads).toBe(2);
    expect(reader.rejections).toBe(0);
    expect(reader.status()).toMatchObject({ version: 2, count: 2, reloads: 2, rejections: 0 });
    await writer.close();
  });

  it('rejects corrupt, half-written and foreign snapshots with a reason and keeps serving', async () => {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: TEST_MODEL });
    const random = rng(2);
    const query = unitVector(random, TEST_MODEL.dimension);
    await writer.publish({
      upserts: Array.from({ length: 50 }, (_, i) =>
        item(`i${i}`, unitVector(random, TEST_MODEL.dimension), { n: i }),
      ),
      deletes: [],
    });
    const goodManifest = sha256(readFileSync(path.join(data.dir, 'snapshots', vdir(1), 'manifest.json')));
    const reader = await openReader({ expectedModel: TEST_MODEL });
    expect(reader.current()?.version).toBe(1);
    const expected = reader.current()?.search(query, { k: 5 });
    const rejects: Array<[number, string]> = [];
    reader.on('reject', (version, reason) => rejects.push([version, reason]));

    const cases: Array<{ name: string; stage: (version: number) => void; reason: RegExp }> = [
      {
        name: 'flipped byte in the vectors',
        stage: (v) =>
          stageVersion(data.dir, 1, v, (dir) => {
            const file = path.join(dir, SERVED);
            const bytes = readFileSync(file);
            bytes.writeUInt8(bytes.readUInt8(bytes.length - 7) ^ 0x40, bytes.length - 7);
            writeFileSync(file, bytes);
          }),
        reason: /seg\.000000000001\.served\.f32 checksum mismatch/,
      },
      {
        name: 'truncated items file',
        stage: (v) =>
          stageVersion(data.dir, 1, v, (dir) => {
            const file = path.join(dir, ITEMS);
            writeFileSync(file, readFileSync(file).subarray(0, 100));
          }),
        reason: /seg\.000000000001\.items\.ndjson is 100 bytes/,
      },
      {
        name: 'half-written directory without a manifest',
        stage: (v) => {
          const dir = path.join(data.dir, 'snapshots', vdir(v));
          mkdirSync(dir, { recursive: true });
          cpSync(path.join(data.dir, 'snapshots', vdir(1), SERVED), path.join(dir, SERVED));
          writePointer(data.dir, v, goodManifest);
        },
        reason: /manifest\.json is missing/,
      },
      {
        name: 'pointer to a version that does not exist',
        stage: (v) => writePointer(data.dir, v, goodManifest),
        reason: /No snapshot version/,
      },
      {
        name: 'manifest that is not the one the pointer names',
        stage: (v) => {
          stageVersion(data.dir, 1, v, () => undefined);
          writePointer(data.dir, v, goodManifest);
        },
        reason: /manifest checksum does not match the pointer/,
      },
      {
        name: 'self-consistent files one row short of what the manifest says',
        stage: (v) =>
          stageVersion(data.dir, 1, v, (dir, manifest) => {
            const file = path.join(dir, SERVED);
            const bytes = readFileSync(file);
            writeFileSync(file, bytes.subarray(0, bytes.length - TEST_MODEL.dimension * 4));
            (manifest.files as Record<string, unknown>)[SERVED] = fileEntry(dir, SERVED);
          }),
        reason: /served\.f32 size in manifest does not fit 50 × 32 floats/,
      },
      {
        name: 'a snapshot of another model',
        stage: (v) =>
          stageVersion(data.dir, 1, v, (_dir, manifest) => ({
            ...manifest,
            model: { ...TEST_MODEL, sha256: 'c'.repeat(64) },
          })),
        reason: /built with model test-model \(cccccccccccc/,
      },
    ];
    let version = 100;
    for (const testCase of cases) {
      version++;
      const before = reader.rejections;
      testCase.stage(version);
      await waitFor(() => reader.rejections === before + 1, 5000, `rejection of ${testCase.name}`);
      expect(rejects.at(-1)?.[0]).toBe(version);
      expect(rejects.at(-1)?.[1]).toMatch(testCase.reason);
      expect(reader.current()?.version).toBe(1);
      expect(reader.current()?.search(query, { k: 5 })).toEqual(expected);
    }
    writeFileSync(path.join(data.dir, 'CURRENT'), '{"version": 3, "manif');
    await waitFor(() => reader.rejections === cases.length + 1, 5000, 'rejection of a garbage pointer');
    expect(rejects.at(-1)).toEqual([-1, expect.stringMatching(/not JSON/)]);
    expect(reader.status().lastRejection).toMatchObject({ version: -1 });

    // Back to the good version, then a good publish is picked up as usual.
    writePointer(data.dir, 1, goodManifest);
    const published = await writer.publish({ upserts: [item('new', query)], deletes: [] });
    expect(published.version).toBe(version + 1);
    await waitFor(() => reader.current()?.version === published.version, 5000, 'the good version');
    expect(reader.current()?.search(query, { k: 1 })[0]?.id).toBe('new');
    expect(reader.reloads).toBe(2);
    await writer.close();
  });

  it('rejects an initial snapshot of another model and swaps to an explicit version on request', async () => {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: TEST_MODEL });
    const random = rng(3);
    for (let i = 0; i < 3; i++)
      await writer.publish({
        upserts: [item(`v${i}`, unitVector(random, TEST_MODEL.dimension))],
        deletes: [],
      });
    const foreign = await openReader({ expectedModel: { ...TEST_MODEL, id: 'other' } });
    expect(foreign.current()).toBeNull();
    expect(foreign.rejections).toBe(1);

    const reader = await openReader();
    expect(reader.current()?.version).toBe(3);
    await reader.swapTo(2);
    expect(reader.current()?.version).toBe(2);
    expect(reader.current()?.count).toBe(2);
    await expect(reader.swapTo(42)).rejects.toBeInstanceOf(SnapshotNotFoundError);
    expect(reader.current()?.version).toBe(2);
    // It stays pinned until the pointer moves again.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(reader.current()?.version).toBe(2);
    await writer.publish({ upserts: [item('v3', unitVector(random, TEST_MODEL.dimension))], deletes: [] });
    await waitFor(() => reader.current()?.version === 4, 5000, 'version 4');
    await writer.close();
  });

  it('keeps the last N versions, deletes older ones only after the grace period, and sweeps dead temp dirs', async () => {
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: TEST_MODEL,
      keepVersions: 2,
      gcGraceMs: 400,
    });
    const random = rng(4);
    const publish = (id: string): Promise<unknown> =>
      writer.publish({ upserts: [item(id, unitVector(random, TEST_MODEL.dimension))], deletes: [] });
    const versionsOnDisk = (): string[] => readdirSync(path.join(data.dir, 'snapshots')).sort();
    for (const id of ['a', 'b', 'c', 'd']) await publish(id);
    expect(versionsOnDisk()).toEqual([1, 2, 3, 4].map(vdir)); // retired, but within the grace period

    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const abandoned = path.join(data.dir, 'tmp', `build.${HOST_TAG}.${deadPid}.zz`);
    mkdirSync(abandoned, { recursive: true });
    writeFileSync(path.join(abandoned, 'index.00000.faiss'), 'partial');
    const live = path.join(data.dir, 'tmp', `build.${HOST_TAG}.${process.ppid}.zz`);
    mkdirSync(live);

    await new Promise((resolve) => setTimeout(resolve, 450));
    await publish('e');
    expect(versionsOnDisk()).toEqual([4, 5].map(vdir));
    expect(existsSync(abandoned)).toBe(false);
    expect(existsSync(live)).toBe(true); // its owner is alive
    const retired = JSON.parse(readFileSync(path.join(data.dir, 'retired.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(Object.keys(retired)).toEqual(['4']);

    const reader = await openReader();
    expect(reader.current()?.version).toBe(5);
    expect([...(reader.current()?.ids() ?? [])]).toEqual(['a', 'b', 'c', 'd', 'e']);
    await writer.close();
  });
});
