import { FilterError, checkFilter } from '@lookalike/filter';
import { InvalidQueryError } from '../errors';
import type { Filter } from '../types';

/**
 * A search's or listing's filter, checked by the one filter module (@lookalike/filter, FILTER_LIMITS);
 * its FilterError becomes this package's INVALID_QUERY with the same reason. Undefined for none (or
 * an empty one).
 */
export function checkQueryFilter(filter: unknown): Filter | undefined {
  try {
    return checkFilter(filter);
  } catch (err) {
    if (err instanceof FilterError) throw new InvalidQueryError(`Invalid filter: ${err.reason}`);
    throw err;
  }
}
