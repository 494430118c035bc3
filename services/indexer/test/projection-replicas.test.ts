import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter, type ItemInput, type Snapshot } from '@lookalike/index-store';
import { ProjectionMaintainer, parseIndexProjection, specKind } from '@lookalike/projection';

// Two replicas (two real SnapshotWriters and ProjectionMaintainers) on one data directory.
const model = { id: 'replica-model', sha256: 'b'.repeat(64), dimension: 32 };
const policy = { spec: parseIndexProjection('pca-whiten:8'), minItems: 40, refitFraction: 0.25 };

/** Deterministic unit vectors with a few strong directions (so a PCA has something to find). */
function items(prefix: string, count: number, seed: number): ItemInput[] {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  return Array.from({ length: count }, (_, i) => {
    const v = new Float32Array(model.dimension);
    let norm = 0;
    for (let j = 0; j < v.length; j++) {
      v[j] = random() * (j < 6 ? 4 / (j + 1) : 0.3);
      norm += (v[j] as number) ** 2;
    }
    for (let j = 0; j < v.length; j++) v[j] = (v[j] as number) / Math.sqrt(norm);
    return { id: `${prefix}${i}`, vector: v, metadata: { n: i }, contentHash: `h-${prefix}${i}` };
  });
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ProjectionMaintainer: two replicas on one data directory', () => {
  let dataDir: string;
  let writers: SnapshotWriter[];
  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'projection-replicas-'));
    writers = [
      await SnapshotWriter.open({ dataDir, model, gcGraceMs: 0 }),
      await SnapshotWriter.open({ dataDir, model, gcGraceMs: 0 }),
    ];
  });
  afterEach(async () => {
    for (const writer of writers) await writer.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a fit on an older base is refused (PROJECTION_CONFLICT → superseded) once the other replica published its fit on a later base', async () => {
    const [writerA, writerB] = writers as [SnapshotWriter, SnapshotWriter];
    await writerA.publish({ upserts: items('a', 60, 1), deletes: [] });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let fittedA = false;
    const replicaA = new ProjectionMaintainer(writerA, {
      policy,
      model,
      worker: false,
      beforePublish: async () => {
        fittedA = true;
        await gate;
      },
    });
    const replicaB = new ProjectionMaintainer(writerB, { policy, model, worker: false });

    // A fits on version 1 (60 items) and is held before its publish.
    const outcomeA = replicaA.checkOnce();
    await waitUntil(() => fittedA, 'replica A to finish its fit');
    // Meanwhile B publishes more items and fits them: version 2 (100 items), then its projection.
    await writerB.publish({ upserts: items('b', 40, 2), deletes: [] });
    expect(await replicaB.checkOnce()).toBe('published');
    const afterB = (await writerB.latest()) as Snapshot;
    expect(afterB.projection).toMatchObject({
      fittedOn: 100,
      kind: specKind(policy.spec),
      outputDimension: 8,
    });

    release();
    expect(await outcomeA).toBe('superseded');
    expect(replicaA.superseded).toBe(1);
    // The writer refused A's publish before building anything: still B's version and projection.
    const final = (await writerA.latest()) as Snapshot;
    expect(final.version).toBe(afterB.version);
    expect(final.projection).toEqual(afterB.projection);
    expect(final.dimension).toBe(8);
    // A's re-check finds B's projection current: nothing more to fit.
    expect(await replicaA.checkOnce()).toBe('kept');
    expect(replicaA.published + replicaB.published).toBe(1);
  });

  it('two replicas racing on the same version publish exactly one projection; the other is superseded and keeps it', async () => {
    const [writerA, writerB] = writers as [SnapshotWriter, SnapshotWriter];
    await writerA.publish({ upserts: items('a', 80, 3), deletes: [] });
    const replicas = writers.map(
      (writer) => new ProjectionMaintainer(writer, { policy, model, worker: false }),
    );
    const outcomes = await Promise.all(replicas.map((replica) => replica.checkOnce()));
    // Usually both read version 1 before either publishes (then one is refused: superseded); should
    // one read after the other's publish, it finds that projection current (kept). Never two.
    expect(outcomes.filter((o) => o === 'published')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'superseded' || o === 'kept')).toHaveLength(1);
    const after = (await writerB.latest()) as Snapshot;
    expect(after.version).toBe(2);
    expect(after.projection?.fittedOn).toBe(80);
    // Checked again (as scheduleCheck does after a conflict): both find the served projection current.
    expect(await Promise.all(replicas.map((replica) => replica.checkOnce()))).toEqual(['kept', 'kept']);
    expect((await writerA.latest())?.version).toBe(2);
  });

  it('refits from the stored raw vectors once enough items were indexed since, and INDEX_PROJECTION=none clears it', async () => {
    const [writer] = writers as [SnapshotWriter];
    const replica = new ProjectionMaintainer(writer, { policy, model, worker: false });
    await writer.publish({ upserts: items('a', 30, 4), deletes: [] });
    expect(await replica.checkOnce()).toBe('kept'); // 30 < 40: raw
    expect((await writer.latest())?.projection).toBeNull();
    await writer.publish({ upserts: items('b', 20, 5), deletes: [] });
    expect(await replica.checkOnce()).toBe('published');
    const first = (await writer.latest()) as Snapshot;
    expect(first.projection?.fittedOn).toBe(50);
    // 12 items replaced (same count): below 25 % of 50 → kept; 13 → refit.
    await writer.publish({ upserts: items('a', 12, 6), deletes: [] });
    expect(await replica.checkOnce()).toBe('kept');
    await writer.publish({ upserts: items('b', 1, 7), deletes: [] });
    expect(await replica.checkOnce()).toBe('published');
    const second = (await writer.latest()) as Snapshot;
    expect(second.projection?.id).not.toBe(first.projection?.id);
    expect(second.count).toBe(50);
    const none = new ProjectionMaintainer(writer, {
      policy: { ...policy, spec: parseIndexProjection('none') },
      model,
      worker: false,
    });
    expect(await none.checkOnce()).toBe('cleared');
    expect(await none.checkOnce()).toBe('kept');
    const raw = (await writer.latest()) as Snapshot;
    expect(raw.projection).toBeNull();
    expect(raw.dimension).toBe(32);
  });
});
