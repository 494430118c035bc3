import {
  averagePrecisionAt,
  perClassPrecision,
  precisionAt,
  summarize,
  type JudgedQuery,
} from '@lookalike/ranking';

// A hand-made example: two queries, relevance of their top 10 results written out.
//   q1 (Shirts):  R R . R . . . . . .   3 relevant in the index
//   q2 (Watches): . R . . . . . . . .   4 relevant in the index
const q1: JudgedQuery = {
  label: 'Shirts',
  relevantTotal: 3,
  relevant: [true, true, false, true, false, false, false, false, false, false],
};
const q2: JudgedQuery = {
  label: 'Watches',
  relevantTotal: 4,
  relevant: [false, true, false, false, false, false, false, false, false, false],
};

describe('retrieval metrics on a hand-made example', () => {
  test('precision@k', () => {
    expect(precisionAt(q1.relevant, 1)).toBe(1);
    expect(precisionAt(q1.relevant, 5)).toBeCloseTo(3 / 5);
    expect(precisionAt(q1.relevant, 10)).toBeCloseTo(3 / 10);
    expect(precisionAt(q2.relevant, 1)).toBe(0);
    expect(precisionAt(q2.relevant, 5)).toBeCloseTo(1 / 5);
    // A short list counts the missing places as misses.
    expect(precisionAt([true, true], 5)).toBeCloseTo(2 / 5);
  });

  test('AP@10 divides by min(relevant in the index, 10)', () => {
    // q1: (1/1 + 2/2 + 3/4) / 3
    expect(averagePrecisionAt(q1.relevant, 10, 3)).toBeCloseTo((1 + 1 + 0.75) / 3);
    // q2: (1/2) / 4
    expect(averagePrecisionAt(q2.relevant, 10, 4)).toBeCloseTo(0.5 / 4);
    expect(averagePrecisionAt(q2.relevant, 10, 0)).toBe(0);
  });

  test('means over queries and per class', () => {
    const summary = summarize([q1, q2]);
    expect(summary.queries).toBe(2);
    expect(summary.p1).toBeCloseTo(0.5);
    expect(summary.p5).toBeCloseTo((0.6 + 0.2) / 2);
    expect(summary.p10).toBeCloseTo((0.3 + 0.1) / 2);
    expect(summary.map10).toBeCloseTo(((1 + 1 + 0.75) / 3 + 0.5 / 4) / 2);
    expect(perClassPrecision([q1, q2, { ...q2, relevant: [true, true, true, true, true] }])).toEqual([
      { label: 'Watches', queries: 2, p5: expect.closeTo((0.2 + 1) / 2, 6) },
      { label: 'Shirts', queries: 1, p5: expect.closeTo(0.6, 6) },
    ]);
  });
});
