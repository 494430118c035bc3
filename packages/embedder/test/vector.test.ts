import { ModelMismatchError, assertSameModel, cosine, l2normalize, sameModel } from '@lookalike/embedder';

describe('vector helpers', () => {
  it('cosine is 1 for parallel, 0 for orthogonal, -1 for opposite vectors, and scale-free', () => {
    const a = Float32Array.from([1, 2, 3]);
    expect(cosine(a, Float32Array.from([2, 4, 6]))).toBeCloseTo(1, 12);
    expect(cosine(Float32Array.from([1, 0]), Float32Array.from([0, 5]))).toBe(0);
    expect(cosine(a, Float32Array.from([-1, -2, -3]))).toBeCloseTo(-1, 12);
    expect(cosine(a, new Float32Array(3))).toBe(0);
    expect(() => cosine(a, new Float32Array(2))).toThrow(RangeError);
  });

  it('l2normalize returns a unit-length copy and refuses a vector without direction', () => {
    const v = Float32Array.from([3, 4]);
    const unit = l2normalize(v);
    expect(Array.from(unit)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(v)).toEqual([3, 4]);
    expect(() => l2normalize(new Float32Array(4))).toThrow(RangeError);
    expect(() => l2normalize(Float32Array.from([1, Number.NaN]))).toThrow(RangeError);
  });

  it('detects embeddings from another model', () => {
    const model = { id: 'mobilenetv2-12-int8', sha256: 'a'.repeat(64), dimension: 1280 };
    expect(sameModel(model, { ...model })).toBe(true);
    for (const other of [
      { ...model, id: 'x' },
      { ...model, sha256: 'b'.repeat(64) },
      { ...model, dimension: 1024 },
    ]) {
      expect(sameModel(model, other)).toBe(false);
      expect(() => assertSameModel(model, other)).toThrow(ModelMismatchError);
    }
    try {
      assertSameModel(model, { ...model, dimension: 1024 });
    } catch (err) {
      expect((err as ModelMismatchError).code).toBe('MODEL_MISMATCH');
      expect((err as ModelMismatchError).message).toMatch(/1280-d.*1024-d/);
    }
  });
});
