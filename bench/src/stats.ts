import { median } from './common';

/** Pure statistics the suites' tables are computed with (unit-tested in bench/test/stats.test.ts). */

/** Least-squares line y = a + b·x through `points` (b = 0 when every x is the same). */
export function fitLine(points: ReadonlyArray<readonly [number, number]>): { a: number; b: number } {
  const n = points.length;
  if (n === 0) return { a: NaN, b: NaN };
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const b = sxx > 0 ? sxy / sxx : 0;
  return { a: my - b * mx, b };
}

/**
 * median(numerator) / median(denominator): the ratio of two methods timed interleaved in one run.
 * Medians, not means, because one stall on a shared machine would move a mean by itself.
 */
export function ratioOfMedians(numerator: readonly number[], denominator: readonly number[]): number {
  return median([...numerator]) / median([...denominator]);
}

/**
 * Precision at k of one query's ranked neighbours: the share of the first `k` whose label equals the
 * query's (fewer than k neighbours count as misses). Labels are looked up by position.
 */
export function precisionAt(
  k: number,
  queryLabel: number,
  neighbours: readonly number[],
  labelOf: (position: number) => number,
): number {
  let hits = 0;
  for (const position of neighbours.slice(0, k)) if (labelOf(position) === queryLabel) hits++;
  return hits / k;
}

/** The mean of `values` (NaN when empty). */
export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : NaN;
}
