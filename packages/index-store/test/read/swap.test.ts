import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotWriter } from '../../src';
import {
  dot,
  item,
  modelOf,
  rng,
  spawnFixture,
  tempDataDir,
  unitVector,
  vectorFor,
  waitFor,
} from '../helpers';
import type { AnswerRecord, ReaderTask } from '../fixtures/reader-child';

const DIMENSION = 32;
const SWAPS = 50;

describe('hot swap under continuous queries from another process', () => {
  let data: ReturnType<typeof tempDataDir>;
  let out: ReturnType<typeof tempDataDir>;
  beforeAll(() => {
    data = tempDataDir('index-store-swap-');
    out = tempDataDir('index-store-swap-out-');
  });
  afterAll(() => {
    data.cleanup();
    out.cleanup();
  });

  it(`${SWAPS} swaps: zero failed queries, every answer consistent with exactly one version`, async () => {
    const writer = await SnapshotWriter.open({
      dataDir: data.dir,
      model: modelOf(DIMENSION),
      gcGraceMs: 2000,
    });
    const random = rng(21);
    // version → (id → generation); each version re-embeds a third of the items, deletes and adds some.
    const states = new Map<number, Map<string, number>>();
    let state = new Map(Array.from({ length: 300 }, (_, i) => [`item-${i}`, 0]));
    const stable = Array.from({ length: 20 }, (_, i) => `item-${i}`); // never deleted: query-by-id anchors
    const toItems = (ids: string[], generation: number) =>
      ids.map((id) => item(id, vectorFor(id, generation, DIMENSION), { gen: generation }));
    let published = await writer.publish({ upserts: toItems([...state.keys()], 0), deletes: [] });
    states.set(published.version, state);

    const task: ReaderTask = {
      dataDir: data.dir,
      dimension: DIMENSION,
      querySeed: 5,
      queries: 16,
      byIds: stable,
      outFile: path.join(out.dir, 'answers.ndjson'),
      recordsPerVersion: 400,
    };
    const reader = spawnFixture('reader-child.ts', task);
    const swappedTo = (version: number): boolean =>
      reader.events.some((e) => e.event === 'swap' && e.version === version);
    await waitFor(() => swappedTo(published.version), 20_000, 'the reader to load the first version');

    for (let s = 1; s <= SWAPS; s++) {
      const generation = s;
      const ids = [...state.keys()];
      const replaced = ids.filter(() => random() < 0.33);
      const deletable = ids.filter((id) => !stable.includes(id) && !replaced.includes(id));
      const deletes = deletable.filter(() => random() < 0.02);
      const added = [`added-${s}-0`, `added-${s}-1`, `added-${s}-2`];
      published = await writer.publish({ upserts: toItems([...replaced, ...added], generation), deletes });
      const next = new Map(state);
      for (const id of deletes) next.delete(id);
      for (const id of [...replaced, ...added]) next.set(id, generation);
      state = next;
      states.set(published.version, state);
      await waitFor(() => swappedTo(published.version), 20_000, `the reader to swap to ${published.version}`);
    }
    reader.child.stdin?.end();
    expect(await reader.exited).toEqual({ code: 0, signal: null });
    await writer.close();

    const done = reader.events.find((e) => e.event === 'done');
    expect(done).toMatchObject({ failures: 0, errors: [], rejections: 0, reloads: SWAPS + 1 });
    expect(reader.events.filter((e) => e.event === 'swap')).toHaveLength(SWAPS + 1);

    const queryRandom = rng(task.querySeed);
    const queries = Array.from({ length: task.queries }, () => unitVector(queryRandom, DIMENSION));
    const vectorCache = new Map<string, Float32Array>();
    const vectorOf = (id: string, generation: number): Float32Array => {
      const key = `${id}@${generation}`;
      let vector = vectorCache.get(key);
      if (!vector) vectorCache.set(key, (vector = vectorFor(id, generation, DIMENSION)));
      return vector;
    };
    const expectedCache = new Map<string, Array<{ id: string; score: number }>>();
    const records = readFileSync(task.outFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AnswerRecord);
    expect(records.length).toBeGreaterThan(SWAPS * 2);
    const versionsSeen = new Set<number>();
    const problems: string[] = [];
    for (const record of records) {
      const items = states.get(record.version);
      if (!items) {
        problems.push(`answer from unknown version ${record.version}`);
        continue;
      }
      versionsSeen.add(record.version);
      const anchor = record.kind === 'id' ? (stable[record.query % stable.length] as string) : null;
      const query = anchor
        ? vectorOf(anchor, items.get(anchor) as number)
        : (queries[record.query] as Float32Array);
      const cacheKey = `${record.version}/${record.kind}/${record.query}`;
      let expected = expectedCache.get(cacheKey);
      if (!expected) {
        expected = [...items.entries()]
          .filter(([id]) => id !== anchor)
          .map(([id, generation]) => ({ id, score: dot(query, vectorOf(id, generation)) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, 10);
        expectedCache.set(cacheKey, expected);
      }
      if (record.hits.length !== 10) problems.push(`${cacheKey}: ${record.hits.length} hits`);
      record.hits.forEach(([id, score, generation], i) => {
        const want = expected[i];
        // Every hit exists in this version, with this version's vector and metadata …
        if (items.get(id) !== generation) problems.push(`${cacheKey}: ${id} has generation ${generation}`);
        else if (Math.abs(score - dot(query, vectorOf(id, generation))) > 1e-5)
          problems.push(`${cacheKey}: ${id} scored ${score}, not with this version's vector`);
        // … and the ranking is this version's (ties within float32 noise may swap places).
        if (!want || (id !== want.id && Math.abs(score - want.score) > 1e-5))
          problems.push(`${cacheKey}: hit ${i} is ${id}, expected ${want?.id}`);
      });
    }
    expect(problems.slice(0, 10)).toEqual([]);
    // Queries ran throughout, on every version.
    expect(versionsSeen.size).toBeGreaterThan(SWAPS * 0.9);
  });
});
