import { FILTER_LIMITS } from '@lookalike/filter';
import {
  FIELD_VALUES_CAP,
  InvalidQueryError,
  SnapshotReader,
  SnapshotWriter,
  type FieldFacet,
  type Snapshot,
} from '../../src';
import { item, modelOf, rng, tempDataDir, unitVector } from '../helpers';

describe('metadata fields, facets and pages of a snapshot', () => {
  let data: ReturnType<typeof tempDataDir>;
  beforeEach(() => {
    data = tempDataDir();
  });
  afterEach(() => data.cleanup());

  it('lists metadata values most frequent first, capped, and treats odd field names as plain fields', async () => {
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: modelOf(4) });
    const random = rng(17);
    const upserts = Array.from({ length: 400 }, (_, i) =>
      item(`m${i}`, unitVector(random, 4), {
        // value v0 on 250 items, then v1..v150 once each: 151 distinct values.
        brand: i < 250 ? 'v0' : `v${i - 249}`,
        ['__proto__']: 'odd',
        constructor: i % 2,
      }),
    );
    await writer.publish({ upserts, deletes: [] });
    const snapshot = (await writer.latest()) as Snapshot;
    const fields = snapshot.metadataFields();
    expect(Object.keys(fields).sort()).toEqual(['__proto__', 'brand', 'constructor']);
    expect(fields.brand).toHaveLength(FIELD_VALUES_CAP);
    expect(fields.brand?.[0]).toBe('v0');
    expect(Object.hasOwn(fields, '__proto__')).toBe(true);
    expect(fields['constructor']).toEqual(['0', '1']);
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    const hits = snapshot.search(unitVector(random, 4), {
      k: 3,
      filter: { ['__proto__']: 'odd', constructor: 1 },
    });
    expect(hits).toHaveLength(3);
    expect(hits.every((h) => h.metadata['constructor'] === 1)).toBe(true);
    await writer.close();
  });

  /** Six items over two fields; `size` only on four of them. */
  async function publishSix(): Promise<{ writer: SnapshotWriter; snapshot: Snapshot }> {
    const random = rng(23);
    const writer = await SnapshotWriter.open({ dataDir: data.dir, model: modelOf(4) });
    const colours = ['red', 'blue', 'red', 'green', 'red', 'blue'];
    await writer.publish({
      upserts: colours.map((colour, i) =>
        item(`f${i}`, unitVector(random, 4), i < 4 ? { colour, size: i % 2 } : { colour }),
      ),
      deletes: [],
    });
    return { writer, snapshot: (await writer.latest()) as Snapshot };
  }

  it('facets(): every field with its item count, distinct values and counts, most frequent first', async () => {
    const { writer, snapshot } = await publishSix();
    const expected: FieldFacet[] = [
      {
        name: 'colour',
        items: 6,
        distinct: 3,
        values: [
          { value: 'red', count: 3 },
          { value: 'blue', count: 2 },
          { value: 'green', count: 1 },
        ],
      },
      {
        name: 'size',
        items: 4,
        distinct: 2,
        values: [
          { value: '0', count: 2 },
          { value: '1', count: 2 },
        ],
      },
    ];
    expect(snapshot.facets()).toEqual(expected);
    // The same counts metadataFields() lists the values of.
    expect(snapshot.metadataFields()).toEqual({ colour: ['red', 'blue', 'green'], size: ['0', '1'] });
    // A reader's snapshot (field index built while loading) answers the same.
    const reader = await SnapshotReader.open({ dataDir: data.dir, pollIntervalMs: 60_000 });
    expect((reader.current() as Snapshot).facets()).toEqual(expected);
    await reader.close();
    await writer.close();
  });

  it('page(): items in index order, filtered or not, with the total matching', async () => {
    const { writer, snapshot } = await publishSix();
    const ids = (page: { items: Array<{ id: string }> }) => page.items.map((i) => i.id);
    const all = snapshot.page(undefined, 0, 4);
    expect(all.total).toBe(6);
    expect(ids(all)).toEqual(['f0', 'f1', 'f2', 'f3']);
    expect(all.items[0]).toBe(snapshot.get('f0'));
    expect(ids(snapshot.page(undefined, 4, 10))).toEqual(['f4', 'f5']);
    expect(snapshot.page(undefined, 10, 10)).toEqual({ total: 6, items: [] });
    const red = snapshot.page({ colour: 'red' }, 1, 5);
    expect(red.total).toBe(3);
    expect(ids(red)).toEqual(['f2', 'f4']);
    // Values compare as text; fields are ANDed; an array is any of its values.
    expect(ids(snapshot.page({ colour: ['red', 'green'], size: '0' }, 0, 10))).toEqual(['f0', 'f2']);
    expect(snapshot.page({ nofield: 'x' }, 0, 10)).toEqual({ total: 0, items: [] });
    expect(snapshot.page({}, 0, 2).total).toBe(6);
    expect(() => snapshot.page({ colour: [] }, 0, 10)).toThrow(InvalidQueryError);
    expect(() => snapshot.page(undefined, -1, 10)).toThrow(InvalidQueryError);
    expect(() => snapshot.page(undefined, 0, 1.5)).toThrow(InvalidQueryError);
    await writer.close();
  });

  it('filters are checked with the filter module’s limits, as INVALID_QUERY', async () => {
    const { writer, snapshot } = await publishSix();
    const query = unitVector(rng(1), 4);
    const values = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);
    expect(() =>
      snapshot.search(query, { k: 1, filter: { colour: values(FILTER_LIMITS.maxValuesPerField) } }),
    ).not.toThrow();
    let error: unknown;
    try {
      snapshot.search(query, { k: 1, filter: { colour: values(FILTER_LIMITS.maxValuesPerField + 1) } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidQueryError);
    expect((error as InvalidQueryError).code).toBe('INVALID_QUERY');
    expect((error as Error).message).toMatch(/colour/);
    const tooMany = Object.fromEntries(values(FILTER_LIMITS.maxFields + 1).map((f) => [f, 'x']));
    expect(() => snapshot.search(query, { k: 1, filter: tooMany })).toThrow(InvalidQueryError);
    expect(() =>
      snapshot.search(query, { k: 1, filter: 'colour:red' as unknown as Record<string, string> }),
    ).toThrow(InvalidQueryError);
    await writer.close();
  });
});
