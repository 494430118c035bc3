import { parseProjectionSpec, ProjectionSpecError, type ProjectionSpec } from '@lookalike/projection';
import { DEFAULT_WEIGHTS, type RankingWeights } from '@lookalike/ranking';
import { InvalidArgumentError } from 'commander';

/** Commander parser for options such as `--batch-size <n>`: a whole number ≥ 1. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Commander parser for `--projection <spec>`: the projection package's own parser (INDEX_PROJECTION's). */
export function projectionSpec(value: string): ProjectionSpec {
  try {
    return parseProjectionSpec(value);
  } catch (err) {
    if (err instanceof ProjectionSpecError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** Commander parser for a comma-separated list of metadata field names (at least one). */
export function fieldList(value: string): string[] {
  const fields = value
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  if (fields.length === 0) throw new InvalidArgumentError('expected at least one field name');
  return fields;
}

/**
 * Commander parser for `--ranking-weights key=value,…`: overrides of the ranking's query-time weights
 * (`RankingWeights`, e.g. `extraLabelVote=1,colour=0.2`), for screening them through the real eval.
 */
export function rankingWeights(value: string): Partial<RankingWeights> {
  const out: Partial<RankingWeights> = {};
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, raw] = part.split('=');
    if (!key || raw === undefined || !(key in DEFAULT_WEIGHTS))
      throw new InvalidArgumentError(
        `expected key=value with a key among ${Object.keys(DEFAULT_WEIGHTS).join(', ')}; got "${part}"`,
      );
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${key} must be a number ≥ 0`);
    out[key as keyof RankingWeights] = n;
  }
  return out;
}

/** Commander parser for a comma-separated list of whole numbers ≥ 0 (e.g. `--events 1000,5000`). */
export function countList(value: string): number[] {
  const counts = value
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)
    .map(Number);
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 0))
    throw new InvalidArgumentError('expected comma-separated whole numbers');
  return counts;
}

/**
 * Commander parser for `--map field=source,…`: metadata fields made from a CSV column or a template
 * (`url=https://shop.example/p/{id}`). A template holding commas cannot be given here; repeat `--map`.
 */
export function fieldMap(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const out = { ...previous };
  for (const part of value
    .split(/,(?![^{]*\})/)
    .map((p) => p.trim())
    .filter(Boolean)) {
    const at = part.indexOf('=');
    const field = part.slice(0, at).trim();
    const source = part.slice(at + 1).trim();
    if (at <= 0 || source === '')
      throw new InvalidArgumentError(`expected field=column or field=template; got "${part}"`);
    out[field] = source;
  }
  return out;
}
