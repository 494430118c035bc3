/** The vector arithmetic of POST /v1/recommend (q = normalise(mean(P) − β·mean(N))). */
import { DegenerateQueryError, colourQuery, rocchioQuery } from '../../src/search/rocchio';

const v = (...xs: number[]) => Float32Array.from(xs);
const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return v(...xs.map((x) => x / n));
};
const close = (a: Float32Array, b: Float32Array) =>
  Array.from(a).forEach((x, j) => expect(x).toBeCloseTo(b[j] as number, 6));

describe('rocchioQuery', () => {
  test('one positive, no negative: the positive itself (already unit)', () => {
    const p = unit(3, 4, 0);
    close(rocchioQuery([p], [], 0.5), p);
    // β without negatives changes nothing; negatives with β = 0 change nothing.
    close(rocchioQuery([p], [unit(0, 0, 1)], 0), p);
  });

  test('the mean of the positives, normalised: each example weighs the same', () => {
    const q = rocchioQuery([v(1, 0, 0), v(0, 1, 0)], [], 0.5);
    close(q, unit(1, 1, 0));
    // Order of the examples does not matter.
    close(rocchioQuery([v(0, 1, 0), v(1, 0, 0)], [], 0.5), q);
  });

  test('subtracts β times the mean of the negatives, then normalises', () => {
    // mean(P) = (1, 0, 0); mean(N) = (0.5, 0.5, 0); β = 0.5 → (0.75, −0.25, 0).
    const q = rocchioQuery([v(1, 0, 0)], [v(1, 0, 0), v(0, 1, 0)], 0.5);
    close(q, unit(0.75, -0.25, 0));
    expect(Math.hypot(...q)).toBeCloseTo(1, 6);
    // A larger β moves q further from the negatives: its cosine with each of them drops.
    const further = rocchioQuery([v(1, 0, 0)], [v(1, 0, 0), v(0, 1, 0)], 1);
    expect(further[1] as number).toBeLessThan(q[1] as number);
  });

  test('a negative moves q away from it and keeps it near the positive', () => {
    const positive = unit(1, 0.2, 0);
    const negative = unit(0.6, 0.8, 0);
    const q = rocchioQuery([positive], [negative], 0.5);
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, j) => s + x * (b[j] as number), 0);
    expect(dot(q, negative)).toBeLessThan(dot(positive, negative));
    expect(dot(q, positive)).toBeGreaterThan(0.8);
  });

  test('examples that cancel out are refused, not searched with a zero vector', () => {
    const p = unit(1, 2, 3);
    expect(() => rocchioQuery([p], [p], 1)).toThrow(DegenerateQueryError);
    expect(() => rocchioQuery([], [], 0.5)).toThrow(RangeError);
    expect(() => rocchioQuery([p], [], -1)).toThrow(RangeError);
    expect(() => rocchioQuery([p], [v(1, 0)], 0.5)).toThrow(RangeError);
  });
});

describe('colourQuery', () => {
  test('√p space: mean of the positives minus β times the mean of the negatives; undefined without a positive colour', () => {
    expect(colourQuery([undefined], [v(1, 0)], 0.5)).toBeUndefined();
    // √ of each histogram, then the mean: (√1 + 0, 0 + √1) / 2 over the known ones.
    close(colourQuery([v(1, 0), undefined, v(0, 1)], [], 0.5) as Float32Array, v(0.5, 0.5));
    close(colourQuery([v(0.25, 0.75)], [], 0.5) as Float32Array, v(0.5, Math.sqrt(0.75)));
    // A negative red histogram makes red bins negative: a red candidate's colour term goes below 0.
    const q = colourQuery([v(0, 1)], [v(1, 0)], 0.5) as Float32Array;
    close(q, v(-0.5, 1));
    const redCandidate = v(1, 0);
    expect(q.reduce((s, x, j) => s + x * (redCandidate[j] as number), 0)).toBeLessThan(0);
    // β = 0, or no negative colour known: the positives alone.
    close(colourQuery([v(0, 1)], [v(1, 0)], 0) as Float32Array, v(0, 1));
    close(colourQuery([v(0, 1)], [undefined], 0.5) as Float32Array, v(0, 1));
  });
});
