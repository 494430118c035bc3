import { fitLine, mean, precisionAt, ratioOfMedians } from '../src/stats';

describe('bench statistics', () => {
  it('fits the per-item slope and intercept of points on a line', () => {
    // RSS = 180 MiB + 1.2 KiB per item, measured at three sizes.
    const points = [50_000, 200_000, 1_000_000].map((n) => [n, 180 + (n * 1200) / 2 ** 20] as const);
    const line = fitLine(points);
    expect(line.b * 2 ** 20).toBeCloseTo(1200, 6);
    expect(line.a).toBeCloseTo(180, 6);
  });

  it('fits the least-squares line through noisy points, and a flat one when every x is equal', () => {
    const line = fitLine([
      [0, 1],
      [1, 2],
      [2, 2],
      [3, 4],
    ]);
    expect(line.b).toBeCloseTo(0.9, 10);
    expect(line.a).toBeCloseTo(0.9, 10);
    expect(
      fitLine([
        [5, 1],
        [5, 3],
      ]),
    ).toEqual({ a: 2, b: 0 });
    expect(Number.isNaN(fitLine([]).a)).toBe(true);
  });

  it('a ratio of medians ignores one stall that a ratio of means would not', () => {
    const seed = [300, 310, 290, 305, 295];
    const api = [10, 11, 9, 10, 400]; // one 400 ms stall of a shared machine
    expect(ratioOfMedians(seed, api)).toBeCloseTo(30, 10);
    expect(mean(seed) / mean(api)).toBeLessThan(4);
  });

  it('precision at k counts the first k neighbours with the query’s label, short lists as misses', () => {
    const labelOf = (position: number) => position % 3;
    expect(precisionAt(5, 0, [3, 6, 9, 1, 12, 15], labelOf)).toBeCloseTo(0.8, 10);
    expect(precisionAt(5, 1, [4, 7], labelOf)).toBeCloseTo(0.4, 10);
    expect(precisionAt(5, 2, [], labelOf)).toBe(0);
    expect(Number.isNaN(mean([]))).toBe(true);
  });
});
