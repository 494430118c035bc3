import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PUBLISH_STEPS, SnapshotReader, SnapshotWriter, type Snapshot } from '../../src';
import {
  item,
  maxDiff,
  modelOf,
  orthonormalProjection,
  spawnFixture,
  tempDataDir,
  vectorFor,
} from '../helpers';
import type { ChildTask } from '../fixtures/writer-child';

const DIMENSION = 16;
const model = modelOf(DIMENSION);
const projection = orthonormalProjection(model, 6, 77);
/** Steps a publish passes only when its snapshot has a projection. */
const PROJECTION_ONLY: readonly string[] = ['projection-written', 'raw-written'];

/** id → generation of its vector; the whole expected content of one version. */
type State = Map<string, number>;

async function readCurrent(dataDir: string): Promise<{ snapshot: Snapshot | null; rejections: number }> {
  const reader = await SnapshotReader.open({ dataDir, expectedModel: model, pollIntervalMs: 60_000 });
  const result = { snapshot: reader.current(), rejections: reader.rejections };
  await reader.close();
  return result;
}

function expectSnapshotIs(snapshot: Snapshot, state: State, projected: boolean): void {
  expect(new Set(snapshot.ids())).toEqual(new Set(state.keys()));
  expect(snapshot.projection?.id ?? null).toBe(projected ? projection.descriptor.id : null);
  for (const [id, generation] of state) {
    expect(snapshot.get(id)?.metadata.gen).toBe(generation);
    const raw = vectorFor(id, generation, DIMENSION);
    if (projected)
      expect(maxDiff(snapshot.vectorOf(id) as Float32Array, projection.project(raw))).toBeLessThan(1e-5);
    else expect(Array.from(snapshot.vectorOf(id) as Float32Array)).toEqual(Array.from(raw));
  }
}

describe.each([
  { projected: false, steps: PUBLISH_STEPS.filter((step) => !PROJECTION_ONLY.includes(step)) },
  { projected: true, steps: [...PUBLISH_STEPS] },
])(
  'crash safety: a writer SIGKILLed at every step of a publish (projection: $projected)',
  ({ projected, steps }) => {
    let data: ReturnType<typeof tempDataDir>;
    beforeAll(() => {
      data = tempDataDir('index-store-crash-');
    });
    afterAll(() => data.cleanup());

    it(`leaves the previous or the new snapshot, never a mix, at all ${steps.length} points`, async () => {
      expect(steps.length).toBeGreaterThanOrEqual(20);
      const writer = await SnapshotWriter.open({ dataDir: data.dir, model });
      let state: State = new Map(Array.from({ length: 40 }, (_, i) => [`base-${i}`, 0]));
      let version = (
        await writer.publish({
          upserts: [...state.keys()].map((id) => item(id, vectorFor(id, 0, DIMENSION), { gen: 0 })),
          deletes: [],
          ...(projected ? { projection, projectionReplaces: null } : {}),
        })
      ).version;
      await writer.close();
      const committedFrom = steps.indexOf('pointer-renamed');

      for (const [index, step] of steps.entries()) {
        const generation = index + 1;
        // Two new items, one replaced, one deleted (an unknown id once the base ones run out).
        const upserts = [`new-${index}-a`, `new-${index}-b`, `base-${index}`];
        const deletes = [index + 20 < 40 ? `base-${index + 20}` : `ghost-${index}`];
        const next: State = new Map(state);
        for (const id of deletes) next.delete(id);
        for (const id of upserts) next.set(id, generation);
        const task: ChildTask = {
          mode: 'crash',
          dataDir: data.dir,
          dimension: DIMENSION,
          killAt: step,
          upserts,
          generation,
          deletes,
        };
        const started = Date.now();
        const child = spawnFixture('writer-child.ts', task);
        const exit = await child.exited;
        // It died at that step (not earlier from an error, not later by finishing the publish).
        expect({ step, ...exit, stderr: child.stderr(), events: child.events }).toEqual({
          step,
          code: null,
          signal: 'SIGKILL',
          stderr: '',
          events: [],
        });
        // The lock of the dead writer did not have to go stale: the next one took it at once.
        expect(Date.now() - started).toBeLessThan(20_000);

        const { snapshot, rejections } = await readCurrent(data.dir);
        expect(rejections).toBe(0);
        expect(snapshot).not.toBeNull();
        const current = snapshot as Snapshot;
        if (index >= committedFrom) {
          // Newer (numbers of snapshot directories that dead writers left behind are not reused).
          expect({ step, newer: current.version > version }).toEqual({ step, newer: true });
          expectSnapshotIs(current, next, projected);
          state = next;
          version = current.version;
        } else {
          expect({ step, version: current.version }).toEqual({ step, version });
          expectSnapshotIs(current, state, projected);
        }
      }

      // A healthy writer carries on from there and sweeps what the dead ones left behind.
      const survivor = await SnapshotWriter.open({ dataDir: data.dir, model, gcGraceMs: 0 });
      const final = await survivor.publish({
        upserts: [item('after', vectorFor('after', 99, DIMENSION), { gen: 99 })],
        deletes: [],
      });
      await survivor.close();
      state.set('after', 99);
      const { snapshot } = await readCurrent(data.dir);
      expectSnapshotIs(snapshot as Snapshot, state, projected);
      const snapshots = readdirSync(path.join(data.dir, 'snapshots'));
      expect(snapshots.every((name) => Number(name.slice(1)) <= final.version)).toBe(true);
      expect(snapshots).toHaveLength(3);
      expect(readdirSync(path.join(data.dir, 'tmp'))).toEqual([]);
      expect(readdirSync(data.dir).sort()).toEqual(['CURRENT', 'fence', 'retired.json', 'snapshots', 'tmp']);
      expect(existsSync(path.join(data.dir, 'writer.lock'))).toBe(false);
    });
  },
);
