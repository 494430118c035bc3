import { FILTER_LIMITS, FilterError, checkFilter, matchesFilter, parseFilter } from '@lookalike/filter';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FilterError);
    expect((err as FilterError).code).toBe('INVALID_FILTER');
    return (err as FilterError).reason;
  }
  throw new Error('expected a FilterError');
}

describe('parseFilter', () => {
  it('reads the compact form, merging a repeated field and keeping values as typed', () => {
    expect(parseFilter('gender:Men,baseColour:Blue|Navy Blue')).toEqual({
      gender: ['Men'],
      baseColour: ['Blue', 'Navy Blue'],
    });
    expect(parseFilter('year:2012,year:2013')).toEqual({ year: ['2012', '2013'] });
  });

  it('reads a JSON object string and an object', () => {
    expect(parseFilter('{"gender":"Men","year":[2011,2012]}')).toEqual({ gender: 'Men', year: [2011, 2012] });
    expect(parseFilter({ gender: 'Women' })).toEqual({ gender: 'Women' });
  });

  it('treats blank, null and empty as no filter', () => {
    expect(parseFilter(undefined)).toBeUndefined();
    expect(parseFilter(null)).toBeUndefined();
    expect(parseFilter('  ')).toBeUndefined();
    expect(parseFilter({})).toBeUndefined();
  });

  it('refuses malformed input with a reason', () => {
    expect(reasonOf(() => parseFilter('gender'))).toBe('"gender" is not field:value');
    expect(reasonOf(() => parseFilter('gender:'))).toBe('empty value for "gender"');
    expect(reasonOf(() => parseFilter('_source:x'))).toBe('"_source" is not a valid field name');
    expect(reasonOf(() => parseFilter('{"a":'))).toBe('not valid JSON');
    expect(reasonOf(() => parseFilter('{"_x":1}'))).toBe('"_x" is not a valid field name');
    expect(reasonOf(() => parseFilter([1]))).toBe('expected an object of field → value');
    expect(reasonOf(() => parseFilter({ a: { b: 1 } }))).toBe('values of "a" must be strings or numbers');
  });

  it('applies one set of limits', () => {
    const tooManyFields = Object.fromEntries(
      Array.from({ length: FILTER_LIMITS.maxFields + 1 }, (_, i) => [`f${i}`, 'x']),
    );
    expect(reasonOf(() => parseFilter(tooManyFields))).toBe(`at most ${FILTER_LIMITS.maxFields} fields`);
    const values = Array.from({ length: FILTER_LIMITS.maxValuesPerField + 1 }, (_, i) => `v${i}`);
    expect(reasonOf(() => parseFilter({ a: values }))).toBe(
      `"a" needs 1–${FILTER_LIMITS.maxValuesPerField} values`,
    );
    expect(reasonOf(() => parseFilter(`a:${values.join('|')}`))).toBe(
      `"a" needs 1–${FILTER_LIMITS.maxValuesPerField} values`,
    );
    expect(parseFilter({ a: values.slice(1) })).toEqual({ a: values.slice(1) });
  });
});

describe('checkFilter', () => {
  it('checks shape and limits but not the client field-name rule', () => {
    expect(checkFilter({ ['__proto__']: 'odd' })).toEqual({ ['__proto__']: 'odd' });
    expect(reasonOf(() => checkFilter({ a: [] }))).toBe(
      `"a" needs 1–${FILTER_LIMITS.maxValuesPerField} values`,
    );
    expect(reasonOf(() => checkFilter({ a: Number.NaN }))).toBe('values of "a" must be strings or numbers');
    expect(reasonOf(() => checkFilter('a:b'))).toBe('expected an object of field → value');
  });
});

describe('matchesFilter', () => {
  const metadata = { gender: 'Men', year: 2012 };
  it('ANDs fields, ORs values, compares as strings', () => {
    expect(matchesFilter(metadata, { gender: 'Men', year: '2012' })).toBe(true);
    expect(matchesFilter(metadata, { year: ['2011', 2012] })).toBe(true);
    expect(matchesFilter(metadata, { gender: 'Men', year: 2011 })).toBe(false);
    expect(matchesFilter(metadata, { season: 'Fall' })).toBe(false);
  });
  it('does not see inherited properties as fields', () => {
    expect(matchesFilter(metadata, { constructor: 'function Object() { [native code] }' })).toBe(false);
  });
});
