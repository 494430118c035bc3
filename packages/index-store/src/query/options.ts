import { MAX_EXCLUDE, MAX_K } from '@lookalike/contracts';
import { InvalidQueryError } from '../errors';
import type { Filter, SearchOptions } from '../types';
import { checkQueryFilter } from './filter';

/** Search options after validation (an empty filter is none). */
export interface ValidOptions {
  k: number;
  filter: Filter | undefined;
  minScore: number | undefined;
  collapse: number | undefined;
  /** Ids never returned (SearchOptions.exclude); empty without any. */
  exclude: readonly string[];
}

export function validateOptions(options: SearchOptions): ValidOptions {
  if (typeof options !== 'object' || options === null)
    throw new InvalidQueryError('search options are required');
  const { k, filter, minScore, collapse, exclude = [] } = options;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K)
    throw new InvalidQueryError(`k must be an integer from 1 to ${MAX_K}, got ${String(k)}`);
  if (minScore !== undefined && (typeof minScore !== 'number' || !Number.isFinite(minScore)))
    throw new InvalidQueryError('minScore must be a finite number');
  if (collapse !== undefined && (typeof collapse !== 'number' || !(collapse > 0 && collapse <= 1)))
    throw new InvalidQueryError('collapse must be a cosine threshold in (0, 1]');
  if (
    !Array.isArray(exclude) ||
    exclude.length > MAX_EXCLUDE ||
    !exclude.every((id): id is string => typeof id === 'string')
  )
    throw new InvalidQueryError(`exclude must be an array of at most ${MAX_EXCLUDE} ids`);
  return { k, filter: checkQueryFilter(filter), minScore, collapse, exclude };
}
