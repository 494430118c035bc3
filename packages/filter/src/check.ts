import { METADATA_KEY_PATTERN, type Filter } from '@lookalike/contracts';
import { FilterError } from './errors';

/** One set of filter limits, for every layer that takes a filter (API, index store). */
export const FILTER_LIMITS = {
  /** Fields ANDed in one filter. */
  maxFields: 32,
  /** Values one field may match (any of). */
  maxValuesPerField: 100,
} as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks the shape and limits of a filter object: field → a string or finite number, or a non-empty
 * array of them; at most FILTER_LIMITS fields and values. Field names are not checked against the
 * metadata key rule here (stored metadata decides what exists; `parseFilter` checks client input).
 * Returns the filter, or undefined for one without fields; throws FilterError.
 */
export function checkFilter(value: unknown): Filter | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw new FilterError('expected an object of field → value');
  const fields = Object.keys(value);
  if (fields.length > FILTER_LIMITS.maxFields)
    throw new FilterError(`at most ${FILTER_LIMITS.maxFields} fields`);
  for (const field of fields) {
    const condition = value[field];
    const values: unknown[] = Array.isArray(condition) ? condition : [condition];
    if (values.length === 0 || values.length > FILTER_LIMITS.maxValuesPerField)
      throw new FilterError(`"${field}" needs 1–${FILTER_LIMITS.maxValuesPerField} values`);
    for (const v of values) {
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v)))
        throw new FilterError(`values of "${field}" must be strings or numbers`);
    }
  }
  return fields.length === 0 ? undefined : (value as Filter);
}

const KEY = METADATA_KEY_PATTERN;

/** `field:v1|v2,field2:v3` → { field: ['v1','v2'], field2: ['v3'] } (a repeated field merges). */
function parseCompact(text: string): Record<string, string[]> {
  const filter: Record<string, string[]> = {};
  for (const clause of text.split(',')) {
    const colon = clause.indexOf(':');
    if (colon <= 0) throw new FilterError(`"${clause}" is not field:value`);
    const field = clause.slice(0, colon).trim();
    if (!KEY.test(field)) throw new FilterError(`"${field}" is not a valid field name`);
    const values = clause
      .slice(colon + 1)
      .split('|')
      .map((value) => value.trim());
    if (values.some((value) => value === '')) throw new FilterError(`empty value for "${field}"`);
    // Text as typed: values compare as strings, so `year:2012` matches 2012.
    filter[field] = [...(Object.hasOwn(filter, field) ? (filter[field] as string[]) : []), ...values];
  }
  return filter;
}

function checkFieldNames(value: unknown): void {
  if (!isRecord(value)) return;
  for (const field of Object.keys(value))
    if (!KEY.test(field)) throw new FilterError(`"${field}" is not a valid field name`);
}

/**
 * A filter as clients send it: the compact string `field:v1|v2,field2:v3`, a JSON object string, or
 * (JSON bodies) an object. Field names must be metadata keys; then `checkFilter`'s limits apply.
 * Blank or empty: undefined. Throws FilterError.
 */
export function parseFilter(input: unknown): Filter | undefined {
  if (input === undefined || input === null) return undefined;
  let value: unknown = input;
  if (typeof input === 'string') {
    const text = input.trim();
    if (text === '') return undefined;
    if (text.startsWith('{')) {
      try {
        value = JSON.parse(text);
      } catch {
        throw new FilterError('not valid JSON');
      }
    } else value = parseCompact(text);
  }
  if (!isRecord(value)) throw new FilterError('expected an object of field → value');
  checkFieldNames(value);
  return checkFilter(value);
}
