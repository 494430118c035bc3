import { ApiError } from '../../src/errors';
import { checkFilterFields, parseFilter } from '../../src/search/filter';
import { FakeSnapshot, fakeVector } from '../helpers';

const where = '/query/filter';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? err.code : 'OTHER';
  }
  return undefined;
}

describe('parseFilter', () => {
  test('compact syntax: AND of fields, | for any-of, values as text', () => {
    expect(parseFilter('gender:Men', where)).toEqual({ gender: ['Men'] });
    expect(parseFilter('baseColour:Navy Blue|Black, gender:Men', where)).toEqual({
      baseColour: ['Navy Blue', 'Black'],
      gender: ['Men'],
    });
    expect(parseFilter('year:2012', where)).toEqual({ year: ['2012'] });
    expect(parseFilter('size:-1.5', where)).toEqual({ size: ['-1.5'] });
    expect(parseFilter('code:007', where)).toEqual({ code: ['007'] });
    expect(parseFilter('url:http://x', where)).toEqual({ url: ['http://x'] });
    expect(parseFilter('a:1,a:2', where)).toEqual({ a: ['1', '2'] });
  });

  test('JSON object form, as a string or an object', () => {
    expect(parseFilter('{"gender":"Men","year":[2011,2012]}', where)).toEqual({
      gender: 'Men',
      year: [2011, 2012],
    });
    expect(parseFilter({ gender: 'Women' }, where)).toEqual({ gender: 'Women' });
  });

  test('nothing to filter on', () => {
    expect(parseFilter(undefined, where)).toBeUndefined();
    expect(parseFilter('', where)).toBeUndefined();
    expect(parseFilter('   ', where)).toBeUndefined();
    expect(parseFilter({}, where)).toBeUndefined();
  });

  test.each([
    ['gender', 'no colon'],
    [':Men', 'no field'],
    ['gender:', 'no value'],
    ['gender:Men|', 'empty alternative'],
    ['gen der:Men', 'bad field name'],
    ['gender:Men,,', 'empty clause'],
    ['{"gender":', 'broken JSON'],
    ['{"gender":{"$ne":"Men"}}', 'operator object'],
    ['{"gender":[]}', 'empty any-of'],
    ['{"gender":true}', 'boolean value'],
    ['["gender"]', 'array'],
    [Array.from({ length: 33 }, (_, i) => `f${i}:x`).join(','), 'too many fields'],
  ])('%s is INVALID_FILTER (%s)', (input) => {
    expect(codeOf(() => parseFilter(input, where))).toBe('INVALID_FILTER');
  });
});

describe('checkFilterFields', () => {
  const snapshot = new FakeSnapshot(1, [
    { id: 'a', vector: fakeVector(Buffer.from('a')), metadata: { gender: 'Men', year: 2012 } },
  ]);
  test('known fields pass, unknown ones are named', () => {
    expect(() => checkFilterFields({ gender: 'Men' }, snapshot, where)).not.toThrow();
    expect(() => checkFilterFields(undefined, snapshot, where)).not.toThrow();
    try {
      checkFilterFields({ gender: 'Men', colour: 'red' }, snapshot, where);
      throw new Error('expected UNKNOWN_FILTER_FIELD');
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('UNKNOWN_FILTER_FIELD');
      expect((err as ApiError).message).toContain('known fields: gender, year');
      expect((err as ApiError).fieldErrors).toEqual([
        { path: '/query/filter/colour', message: 'unknown field' },
      ]);
    }
  });
  test('an empty snapshot knows no fields, so nothing is refused', () => {
    expect(() => checkFilterFields({ colour: 'red' }, new FakeSnapshot(1, []), where)).not.toThrow();
  });
});
