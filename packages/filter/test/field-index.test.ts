import type { Filter, Metadata } from '@lookalike/contracts';
import { FIELD_VALUES_CAP, FieldIndex, matchesFilter } from '@lookalike/filter';

const items: Metadata[] = [
  { gender: 'Men', colour: 'Blue', year: 2011 },
  { gender: 'Women', colour: 'Red' },
  { gender: 'Men', colour: 'Red', year: 2012 },
  { colour: 'Blue', year: 2011 },
  { gender: 'Women', colour: 'Blue', year: 2012 },
];
const index = FieldIndex.build((p) => items[p] as Metadata, items.length);

describe('FieldIndex', () => {
  it('finds the positions matching a filter, ascending, as matchesFilter would', () => {
    const filters: Filter[] = [
      { colour: 'Blue' },
      { colour: ['Red', 'Blue'], gender: 'Men' },
      { year: '2012' },
      { year: [2011, '2012'], colour: 'Blue', gender: ['Women', 'Men'] },
      { colour: 'Green' },
      { nofield: 'x' },
    ];
    for (const filter of filters) {
      const expected = items.flatMap((m, p) => (matchesFilter(m, filter) ? [p] : []));
      expect(Array.from(index.matching(filter))).toEqual(expected);
    }
  });

  it('pages in index order, with and without a filter', () => {
    expect(index.page(undefined, 1, 2)).toEqual({ total: 5, positions: [1, 2] });
    expect(index.page(undefined, 4, 10)).toEqual({ total: 5, positions: [4] });
    expect(index.page({ colour: 'Blue' }, 1, 1)).toEqual({ total: 3, positions: [3] });
    expect(index.page({ colour: 'Blue' }, 9, 1)).toEqual({ total: 3, positions: [] });
  });

  it('counts facets per field in first-occurrence order, most frequent value first', () => {
    expect(index.facets()).toEqual([
      {
        name: 'gender',
        items: 4,
        distinct: 2,
        values: [
          { value: 'Men', count: 2 },
          { value: 'Women', count: 2 },
        ],
      },
      {
        name: 'colour',
        items: 5,
        distinct: 2,
        values: [
          { value: 'Blue', count: 3 },
          { value: 'Red', count: 2 },
        ],
      },
      {
        name: 'year',
        items: 4,
        distinct: 2,
        values: [
          { value: '2011', count: 2 },
          { value: '2012', count: 2 },
        ],
      },
    ]);
    expect(index.topValues()).toEqual({
      gender: ['Men', 'Women'],
      colour: ['Blue', 'Red'],
      year: ['2011', '2012'],
    });
    expect(index.unknownFields({ gender: 'Men', colur: 'Blue' })).toEqual(['colur']);
  });

  it('caps the values listed per field, keeps odd field names as plain fields', async () => {
    const many: Metadata[] = Array.from({ length: FIELD_VALUES_CAP + 20 }, (_, i) => ({
      sku: `s${i}`,
      ['__proto__']: 'odd',
    }));
    for (const m of many) Object.defineProperty(m, '__proto__', { value: 'odd', enumerable: true });
    let yields = 0;
    const big = await FieldIndex.buildSliced(
      (p) => many[p] as Metadata,
      many.length,
      async () => {
        yields++;
      },
    );
    expect(big.topValues().sku).toHaveLength(FIELD_VALUES_CAP);
    expect(Object.hasOwn(big.topValues(), '__proto__')).toBe(true);
    expect(Array.from(big.matching({ ['__proto__']: 'odd' }))).toHaveLength(many.length);
    expect(yields).toBe(0);
  });
});
