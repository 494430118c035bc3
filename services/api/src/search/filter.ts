import { FilterError, parseFilter as parseClientFilter } from '@lookalike/filter';
import { ApiError } from '../errors';
import type { Filter, SnapshotView } from '../ports';

/**
 * A client's filter (compact string, JSON object string, or object; rules in @lookalike/filter),
 * with a FilterError answered as 400 INVALID_FILTER naming the parameter: `where` is its pointer
 * (`/query/filter`, `/body/filter`).
 */
export function parseFilter(input: unknown, where: string): Filter | undefined {
  try {
    return parseClientFilter(input);
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    throw new ApiError('INVALID_FILTER', err.message, {
      fieldErrors: [{ path: where, message: err.reason }],
    });
  }
}

/**
 * A field no item has is almost always a typo that would silently match nothing: refuse it, naming
 * the fields that exist. An empty snapshot knows no fields, so nothing is checked there.
 */
export function checkFilterFields(filter: Filter | undefined, snapshot: SnapshotView, where: string): void {
  if (!filter || snapshot.count === 0) return;
  const known = snapshot.metadataFields();
  const unknown = Object.keys(filter).filter((field) => !Object.hasOwn(known, field));
  if (unknown.length > 0) {
    const knownList = Object.keys(known).sort();
    throw new ApiError(
      'UNKNOWN_FILTER_FIELD',
      `Unknown filter field${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => `"${f}"`).join(', ')}; ` +
        `known fields: ${knownList.length ? knownList.join(', ') : '(none)'}`,
      { fieldErrors: unknown.map((field) => ({ path: `${where}/${field}`, message: 'unknown field' })) },
    );
  }
}
