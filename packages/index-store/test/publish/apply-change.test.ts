import type { ItemInput, SnapshotChange, StoredItem } from '../../src';
import { applyAttachments, applyChange, storedItem, type ChangeBase } from '../../src/publish/apply-change';
import { validateChange, type NormalizedChange } from '../../src/publish/validate-change';

/** Pure: a change applied to an item list, no files, no faiss. */
const DIMENSION = 2;
const AT = '2026-01-02T03:04:05.000Z';

function vector(...values: number[]): Float32Array {
  return Float32Array.from(values);
}

function input(id: string, v: Float32Array, metadata: ItemInput['metadata'] = {}): ItemInput {
  return { id, vector: v, metadata, contentHash: `h-${id}` };
}

/** A base version holding `items` with the given vectors (index order). */
function baseOf(
  entries: Array<[id: string, vector: Float32Array]>,
  attachments: Record<string, string> = {},
): ChangeBase & { vectors: Float32Array } {
  const items: StoredItem[] = entries.map(([id]) =>
    Object.freeze({ id, metadata: { from: 'base' }, contentHash: `old-${id}`, indexedAt: 'before' }),
  );
  const vectors = new Float32Array(entries.length * DIMENSION);
  entries.forEach(([, v], i) => vectors.set(v, i * DIMENSION));
  const files = new Map(Object.entries(attachments).map(([name, text]) => [name, Buffer.from(text)]));
  return {
    count: items.length,
    vectors,
    has: (id) => items.some((item) => item.id === id),
    itemAt: (position) => items[position] as StoredItem,
    ids: () => items.map((item) => item.id),
    attachmentMap: () => files,
  };
}

function normalize(change: Partial<SnapshotChange>): Promise<NormalizedChange> {
  return validateChange(
    { upserts: [], deletes: [], ...change },
    { id: 'm', sha256: 's', dimension: DIMENSION },
  );
}

const idsOf = (items: StoredItem[]) => items.map((item) => item.id);

describe('applyChange (pure)', () => {
  it('onto nothing: the upserts in change order, stamped and frozen, vectors concatenated', async () => {
    const change = await normalize({
      upserts: [
        { ...input('b', vector(1, 0), { colour: 'red' }), source: { imageUrl: 'https://x/b.jpg' } },
        input('a', vector(0, 1)),
      ],
    });
    const next = await applyChange(null, change, AT);
    expect(next).not.toBeNull();
    expect(idsOf(next!.items)).toEqual(['b', 'a']);
    expect(next!.upserts.map((u) => Array.from(u.vector))).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(Array.from(next!.kept)).toEqual([]);
    expect(next!.items[0]).toEqual({
      id: 'b',
      metadata: { colour: 'red' },
      contentHash: 'h-b',
      indexedAt: AT,
      source: { imageUrl: 'https://x/b.jpg' },
    });
    expect(Object.isFrozen(next!.items[0])).toBe(true);
    expect(Object.isFrozen(next!.items[0]?.metadata)).toBe(true);
    expect(next!.items[1]).not.toHaveProperty('source');
    expect(next!.deleted).toEqual([]);
    // An empty first change still makes a (first, empty) version.
    expect(await applyChange(null, await normalize({}), AT)).toMatchObject({ items: [] });
  });

  it('keeps the rest in order, moves replaced ids to the end with the new ones, drops deletes, reports unknown ones', async () => {
    const base = baseOf([
      ['a', vector(1, 1)],
      ['b', vector(2, 2)],
      ['c', vector(3, 3)],
    ]);
    const change = await normalize({
      upserts: [input('new', vector(9, 9)), input('b', vector(5, 5))],
      deletes: ['a', 'ghost'],
    });
    const next = await applyChange(base, change, AT);
    expect(idsOf(next!.items)).toEqual(['c', 'new', 'b']);
    expect(Array.from(next!.kept)).toEqual([2]);
    expect(next!.upserts.map((u) => u.id)).toEqual(['new', 'b']);
    expect(next!.items[2]).toMatchObject({ contentHash: 'h-b', indexedAt: AT });
    // Untouched items are carried as they were (the same frozen object).
    expect(next!.items[0]).toBe(base.itemAt(2));
    expect(next!.deleted).toEqual(['a']);
    expect(next!.unknownDeletes).toEqual(['ghost']);
    // The base is not modified.
    expect(Array.from(base.vectors)).toEqual([1, 1, 2, 2, 3, 3]);
    expect(base.itemAt(1).contentHash).toBe('old-b');
  });

  it('a later upsert of the same id in one change wins', async () => {
    const change = await normalize({ upserts: [input('a', vector(1, 0)), input('a', vector(0, 1))] });
    const next = await applyChange(null, change, AT);
    expect(idsOf(next!.items)).toEqual(['a']);
    expect(Array.from(next!.upserts[0]!.vector)).toEqual([0, 1]);
  });

  it('a change that alters nothing gives null (no new version)', async () => {
    const base = baseOf([['a', vector(1, 1)]]);
    expect(await applyChange(base, await normalize({ deletes: ['ghost'] }), AT)).toBeNull();
    expect(await applyChange(base, await normalize({}), AT)).toBeNull();
    // Unless something else changes (a projection): then it is the base as it is.
    expect(await applyChange(base, await normalize({}), AT, true)).toMatchObject({ upserts: [] });
    // An attachment alone is a change.
    const withAttachment = await normalize({ attachments: { 'r.json': Buffer.from('1') } });
    expect(await applyChange(base, withAttachment, AT)).not.toBeNull();
  });

  it('replaceAll publishes exactly the upserts and reports every other base item deleted', async () => {
    const base = baseOf([
      ['a', vector(1, 1)],
      ['b', vector(2, 2)],
      ['c', vector(3, 3)],
    ]);
    const change = await normalize({
      upserts: [input('c', vector(7, 7)), input('z', vector(8, 8))],
      deletes: ['a', 'never-there'],
      replaceAll: true,
    });
    const next = await applyChange(base, change, AT);
    expect(idsOf(next!.items)).toEqual(['c', 'z']);
    expect(Array.from(next!.kept)).toEqual([]);
    expect(next!.deleted).toEqual(['a', 'b']);
    expect(next!.unknownDeletes).toEqual(['never-there']);
  });

  it('attachments: set (copied), removed with null, the rest carried forward', async () => {
    const base = baseOf([['a', vector(1, 1)]], { keep: 'k', drop: 'd', swap: 'old' });
    const content = Buffer.from('new');
    const change = await normalize({ attachments: { drop: null, swap: content, added: Buffer.from('+') } });
    const next = await applyChange(base, change, AT);
    const texts = Object.fromEntries(
      [...next!.attachments].map(([name, bytes]) => [name, Buffer.from(bytes).toString()]),
    );
    expect(texts).toEqual({ keep: 'k', swap: 'new', added: '+' });
    expect(next!.attachments.get('swap')).not.toBe(content);
    expect(idsOf(next!.items)).toEqual(['a']);
    expect(applyAttachments(new Map(), new Map()).changed).toBe(false);
  });

  it('attachments set to the bytes they have, or removed where absent, are no change', async () => {
    const base = baseOf([['a', vector(1, 1)]], { ranking: 'features' });
    const same = applyAttachments(
      base.attachmentMap(),
      new Map([
        ['ranking', Buffer.from('features')],
        ['never-there', null],
      ]),
    );
    expect(same.changed).toBe(false);
    expect(Buffer.from(same.attachments.get('ranking')!).toString()).toBe('features');
    // Derived attachments recomputed identically for a delete of an absent id: no new version.
    const ghost = await normalize({ deletes: ['ghost'], attachments: { ranking: Buffer.from('features') } });
    expect(await applyChange(base, ghost, AT)).toBeNull();
    // Other bytes (even of the same length), or removing one that is there, are a change.
    expect(
      applyAttachments(base.attachmentMap(), new Map([['ranking', Buffer.from('Features')]])).changed,
    ).toBe(true);
    expect(applyAttachments(base.attachmentMap(), new Map([['ranking', null]])).changed).toBe(true);
  });

  it('storedItem copies the metadata and source, so later edits of the input change nothing', () => {
    const metadata: Record<string, string> = { colour: 'red' };
    const source = { imagePath: '/photos/a.jpg' };
    const stored = storedItem({ ...input('a', vector(1, 0), metadata), source }, AT);
    metadata.colour = 'blue';
    source.imagePath = '/elsewhere.jpg';
    expect(stored.metadata).toEqual({ colour: 'red' });
    expect(stored.source).toEqual({ imagePath: '/photos/a.jpg' });
  });
});
