import { InvalidArgumentError } from 'commander';
import { fieldList, positiveInteger, rankingWeights } from '../src/options';

describe('CLI option parsers', () => {
  it('fieldList reads a comma-separated list of field names, trimmed, and refuses an empty one', () => {
    expect(fieldList('articleType, subCategory ,')).toEqual(['articleType', 'subCategory']);
    expect(() => fieldList(' , ')).toThrow(InvalidArgumentError);
  });

  it('positiveInteger refuses zero, fractions and text', () => {
    expect(positiveInteger('5')).toBe(5);
    for (const bad of ['0', '1.5', 'x']) expect(() => positiveInteger(bad)).toThrow(InvalidArgumentError);
  });

  it('rankingWeights reads known weight keys and refuses unknown keys, negatives and text', () => {
    expect(rankingWeights('extraLabelVote=1, colour=0.2')).toEqual({ extraLabelVote: 1, colour: 0.2 });
    for (const bad of ['nope=1', 'colour=-1', 'colour=x', 'colour'])
      expect(() => rankingWeights(bad)).toThrow(InvalidArgumentError);
  });
});
