import { ApiError } from './errors';
import type { Filter, SnapshotView } from './ports';
import { METADATA_KEY_PATTERN } from './schemas';

const KEY = new RegExp(METADATA_KEY_PATTERN);
const MAX_FIELDS = 32;
const MAX_VALUES = 100;

function invalid(where: string, message: string): ApiError {
  return new ApiError('INVALID_FILTER', `Invalid filter: ${message}`, {
    fieldErrors: [{ path: where, message }],
  });
}

function parseCompact(text: string, where: string): Filter {
  const filter: Filter = {};
  for (const clause of text.split(',')) {
    const colon = clause.indexOf(':');
    if (colon <= 0) throw invalid(where, `"${clause}" is not field:value`);
    const field = clause.slice(0, colon).trim();
    if (!KEY.test(field)) throw invalid(where, `"${field}" is not a valid field name`);
    const values = clause
      .slice(colon + 1)
      .split('|')
      .map((value) => value.trim());
    if (values.some((value) => value === '')) throw invalid(where, `empty value for "${field}"`);
    const existing = filter[field];
    const merged = [
      ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]),
      // Text as typed: the index compares values as strings, so `year:2012` matches 2012.
      ...values,
    ];
    filter[field] = merged;
  }
  return filter;
}

function checkObject(value: unknown, where: string): Filter {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(where, 'expected an object of field → value');
  }
  const filter: Filter = {};
  for (const [field, condition] of Object.entries(value)) {
    if (!KEY.test(field)) throw invalid(where, `"${field}" is not a valid field name`);
    const values: unknown[] = Array.isArray(condition) ? condition : [condition];
    if (values.length === 0 || values.length > MAX_VALUES) {
      throw invalid(where, `"${field}" needs 1–${MAX_VALUES} values`);
    }
    for (const v of values) {
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
        throw invalid(where, `values of "${field}" must be strings or numbers`);
      }
    }
    filter[field] = condition as Filter[string];
  }
  return filter;
}

/**
 * Reads a filter given as the compact string `field:v1|v2,field2:v3`, as a JSON object string, or
 * (JSON bodies) as an object. `where` names the parameter in error messages (`/query/filter`).
 */
export function parseFilter(input: unknown, where: string): Filter | undefined {
  if (input === undefined || input === null) return undefined;
  let filter: Filter;
  if (typeof input === 'string') {
    const text = input.trim();
    if (text === '') return undefined;
    if (text.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw invalid(where, 'not valid JSON');
      }
      filter = checkObject(parsed, where);
    } else {
      filter = parseCompact(text, where);
    }
  } else {
    filter = checkObject(input, where);
  }
  const fields = Object.keys(filter);
  if (fields.length > MAX_FIELDS) throw invalid(where, `at most ${MAX_FIELDS} fields`);
  for (const field of fields) {
    const condition = filter[field];
    if (Array.isArray(condition) && condition.length > MAX_VALUES) {
      throw invalid(where, `"${field}" has more than ${MAX_VALUES} values`);
    }
  }
  return fields.length === 0 ? undefined : filter;
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
