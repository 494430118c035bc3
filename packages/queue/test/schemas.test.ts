import type { ImageRef } from '@lookalike/image-source';
import {
  InvalidJobError,
  MAX_DELETE_IDS_PER_JOB,
  MAX_ITEMS_PER_JOB,
  catalogueItemSchema,
  imageRefSchema,
  parseCatalogueJob,
  type CatalogueItem,
  type CatalogueJob,
} from '../src';

function issuesOf(input: unknown): Array<{ path: string; message: string }> {
  try {
    parseCatalogueJob(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidJobError);
    expect((err as InvalidJobError).code).toBe('JOB_INVALID');
    expect((err as InvalidJobError).permanent).toBe(true);
    return (err as InvalidJobError).issues;
  }
  throw new Error('expected the job to be refused');
}

const item = (id: string, extra: Record<string, unknown> = { imagePath: `${id}.jpg` }) => ({ id, ...extra });

describe('catalogue job schemas', () => {
  it('accepts each kind of job and each kind of image ref, defaulting metadata to {}', () => {
    const job = parseCatalogueJob({
      kind: 'upsert',
      items: [
        { id: 'sku-1', imageUrl: 'https://cdn.example.com/1.jpg', metadata: { colour: 'red', price: 19.99 } },
        { id: 'a.b:c_d-2', imagePath: 'shirts/2.jpg' },
        { id: '3', imageBase64: 'iVBORw0KGgo=', metadata: {} },
      ],
    });
    expect(job).toEqual({
      kind: 'upsert',
      items: [
        { id: 'sku-1', imageUrl: 'https://cdn.example.com/1.jpg', metadata: { colour: 'red', price: 19.99 } },
        { id: 'a.b:c_d-2', imagePath: 'shirts/2.jpg', metadata: {} },
        { id: '3', imageBase64: 'iVBORw0KGgo=', metadata: {} },
      ],
    });
    expect(parseCatalogueJob({ kind: 'delete', ids: ['sku-1', 'sku-2'] })).toEqual({
      kind: 'delete',
      ids: ['sku-1', 'sku-2'],
    });
    expect(parseCatalogueJob({ kind: 'reindex' })).toEqual({ kind: 'reindex' });
  });

  it('types the parsed job as the agreed union (compile-time check)', () => {
    const job: CatalogueJob = parseCatalogueJob({ kind: 'upsert', items: [item('x')] });
    if (job.kind !== 'upsert') throw new Error('unreachable');
    const first: CatalogueItem | undefined = job.items[0];
    const ref: ImageRef | undefined = first;
    const metadata: Record<string, string | number> | undefined = first?.metadata;
    expect([ref, metadata]).toEqual([{ id: 'x', imagePath: 'x.jpg', metadata: {} }, {}]);
  });

  it.each([
    ['an empty id', item(''), 'items[0].id'],
    ['an id with a space', item('a b'), 'items[0].id'],
    ['an id with a slash', item('a/b'), 'items[0].id'],
    ['an id of 129 characters', item('x'.repeat(129)), 'items[0].id'],
    ['a numeric id', { id: 5, imagePath: 'a.jpg' }, 'items[0].id'],
    [
      'nested metadata',
      item('a', { imagePath: 'a.jpg', metadata: { size: { w: 1 } } }),
      'items[0].metadata.size',
    ],
    [
      'array metadata',
      item('a', { imagePath: 'a.jpg', metadata: { tags: ['x'] } }),
      'items[0].metadata.tags',
    ],
    [
      'boolean metadata',
      item('a', { imagePath: 'a.jpg', metadata: { sale: true } }),
      'items[0].metadata.sale',
    ],
    [
      'infinite metadata',
      item('a', { imagePath: 'a.jpg', metadata: { price: Infinity } }),
      'items[0].metadata.price',
    ],
    [
      'a bad metadata key',
      item('a', { imagePath: 'a.jpg', metadata: { 'colour-name': 'red' } }),
      'items[0].metadata.colour-name',
    ],
    [
      'a reserved (internal) metadata key',
      item('a', { imagePath: 'a.jpg', metadata: { _source: 'url:http://10.0.0.1/' } }),
      'items[0].metadata._source',
    ],
    [
      'a long metadata string',
      item('a', { imagePath: 'a.jpg', metadata: { note: 'x'.repeat(1_001) } }),
      'items[0].metadata.note',
    ],
    [
      '65 metadata keys',
      item('a', {
        imagePath: 'a.jpg',
        metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])),
      }),
      'items[0].metadata',
    ],
    ['no image', { id: 'a' }, 'items[0]'],
    ['two images', item('a', { imagePath: 'a.jpg', imageUrl: 'https://x.example/a.jpg' }), 'items[0]'],
    ['a misspelt key', item('a', { imageURL: 'https://x.example/a.jpg' }), 'items[0]'],
    ['an ftp URL', item('a', { imageUrl: 'ftp://x.example/a.jpg' }), 'items[0].imageUrl'],
    ['a relative URL', item('a', { imageUrl: '/a.jpg' }), 'items[0].imageUrl'],
    ['an absolute path', item('a', { imagePath: '/etc/passwd' }), 'items[0].imagePath'],
    ['a climbing path', item('a', { imagePath: 'shirts/../../secret.jpg' }), 'items[0].imagePath'],
    ['an empty base64 image', item('a', { imageBase64: '' }), 'items[0].imageBase64'],
  ])('refuses an item with %s', (_name, badItem, path) => {
    const issues = issuesOf({ kind: 'upsert', items: [badItem] });
    expect(issues.map((i) => i.path)).toContain(path);
  });

  it('says why a metadata key starting with _ is refused', () => {
    const issues = issuesOf({
      kind: 'upsert',
      items: [item('a', { imagePath: 'a.jpg', metadata: { _x: 1 } })],
    });
    expect(issues).toEqual([
      { path: 'items[0].metadata._x', message: expect.stringContaining('not starting with _ (reserved') },
    ]);
  });

  it('refuses duplicate ids, empty and oversized jobs', () => {
    expect(issuesOf({ kind: 'upsert', items: [item('a'), item('b'), item('a')] })).toEqual([
      { path: 'items[2].id', message: expect.stringContaining('duplicate id "a" (also items[0])') },
    ]);
    expect(issuesOf({ kind: 'upsert', items: [] })[0]?.path).toBe('items');
    const tooMany = Array.from({ length: MAX_ITEMS_PER_JOB + 1 }, (_, i) => item(`id-${i}`));
    expect(issuesOf({ kind: 'upsert', items: tooMany })).toEqual([
      { path: 'items', message: expect.stringContaining('at most 500 items') },
    ]);
    expect(parseCatalogueJob({ kind: 'upsert', items: tooMany.slice(1) }).kind).toBe('upsert');
    const ids = Array.from({ length: MAX_DELETE_IDS_PER_JOB + 1 }, (_, i) => `id-${i}`);
    expect(issuesOf({ kind: 'delete', ids })[0]?.path).toBe('ids');
    expect(parseCatalogueJob({ kind: 'delete', ids: ids.slice(1) }).kind).toBe('delete');
    expect(issuesOf({ kind: 'delete', ids: [] })[0]?.path).toBe('ids');
    expect(issuesOf({ kind: 'delete', ids: ['ok', 'not ok'] })[0]?.path).toBe('ids[1]');
  });

  it('bounds the inline image volume of one job', () => {
    const big = 'A'.repeat(20_000_000);
    const items = [0, 1, 2].map((i) => item(`b${i}`, { imageBase64: big }));
    expect(issuesOf({ kind: 'upsert', items })).toEqual([
      { path: 'items', message: expect.stringContaining('inline images total 60000000 characters') },
    ]);
  });

  it('refuses unknown kinds, extra keys and non-objects', () => {
    expect(issuesOf({ kind: 'purge' })).toEqual([
      { path: 'kind', message: 'kind must be "upsert", "delete" or "reindex"' },
    ]);
    expect(issuesOf({})[0]?.path).toBe('kind');
    expect(issuesOf(null)[0]?.path).toBe('(root)');
    expect(issuesOf('upsert')[0]?.path).toBe('(root)');
    expect(issuesOf({ kind: 'reindex', force: true })[0]?.message).toMatch(/force/);
  });

  it('lists every problem of a job at once, with readable paths', () => {
    const err = (() => {
      try {
        parseCatalogueJob({
          kind: 'upsert',
          items: [
            item('ok'),
            { id: 'bad id', imagePath: 'x.jpg' },
            { id: 'no-image', metadata: { colour: { r: 1 } } },
            item('ok'),
          ],
        });
      } catch (e) {
        return e as InvalidJobError;
      }
      throw new Error('expected a refusal');
    })();
    expect(err.issues.map((i) => i.path).sort()).toEqual(
      ['items[1].id', 'items[2]', 'items[2].metadata.colour', 'items[3].id'].sort(),
    );
    for (const issue of err.issues) expect(err.message).toContain(issue.path);
    expect(err.details).toEqual({ issues: err.issues });
  });

  it('exports the item and image-ref schemas for reuse', () => {
    expect(catalogueItemSchema.safeParse({ id: 'a', imageUrl: 'http://x.example/a.png' }).success).toBe(true);
    expect(imageRefSchema.safeParse({ imageBase64: 'AAAA' }).success).toBe(true);
    expect(imageRefSchema.safeParse({ imageBase64: 'AAAA', imagePath: 'a.jpg' }).success).toBe(false);
    expect(imageRefSchema.safeParse({}).success).toBe(false);
  });
});
