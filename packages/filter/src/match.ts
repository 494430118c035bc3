import type { Filter, Metadata } from '@lookalike/contracts';

/** The values a field's condition accepts, as strings (filters compare as text: "2012" matches 2012). */
export function conditionValues(condition: Filter[string]): string[] {
  return (Array.isArray(condition) ? condition : [condition]).map(String);
}

/** The filter rule: every field present with one of its values (compared as strings). */
export function matchesFilter(metadata: Metadata, filter: Filter): boolean {
  for (const [field, condition] of Object.entries(filter)) {
    if (!Object.hasOwn(metadata, field)) return false;
    const value = String(metadata[field]);
    if (!conditionValues(condition).includes(value)) return false;
  }
  return true;
}
