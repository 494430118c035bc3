import { IndexFlatIP, knnInnerProduct } from 'faiss-node';
import { rng, unitVector } from '../helpers';

describe('knnInnerProduct (faiss-node patch): exact search on vectors held in JS', () => {
  it('returns what IndexFlatIP.search returns for a batch of queries, without copying the vectors', () => {
    const dimension = 40;
    const random = rng(5);
    const rows = Array.from({ length: 3000 }, () => unitVector(random, dimension));
    const vectors = new Float32Array(rows.length * dimension);
    rows.forEach((row, i) => vectors.set(row, i * dimension));
    const queries = new Float32Array(7 * dimension);
    for (let q = 0; q < 7; q++) queries.set(unitVector(random, dimension), q * dimension);
    const bare = new IndexFlatIP(dimension);
    bare.add(vectors);
    for (const k of [1, 10, 3000]) {
      const expected = bare.search(queries, k);
      const got = knnInnerProduct(queries, vectors, dimension, k);
      expect(Array.from(got.labels)).toEqual(expected.labels);
      expect(Array.from(got.distances)).toEqual(expected.distances.map((d) => Math.fround(d)));
    }
    // A view searches only its rows; labels count from the view's first row.
    const tail = vectors.subarray(1000 * dimension);
    const own = knnInnerProduct(vectors.subarray(1500 * dimension, 1501 * dimension), tail, dimension, 1);
    expect(Array.from(own.labels)).toEqual([500]);
  });

  it('refuses what it cannot search', () => {
    const vectors = new Float32Array(4 * 8);
    const query = new Float32Array(8);
    expect(() => knnInnerProduct(query, vectors, 8, 5)).toThrow(
      /must not exceed the number of vectors \(4\)/,
    );
    expect(() => knnInnerProduct(query, vectors.subarray(1), 8, 1)).toThrow(/whole rows/);
    expect(() => knnInnerProduct(query, vectors, 0, 1)).toThrow(/positive/);
    expect(() => knnInnerProduct(new Float64Array(8) as unknown as Float32Array, vectors, 8, 1)).toThrow(
      /Float32Arrays/,
    );
  });
});
