import { LinearProjection, ProjectionFormatError } from '@lookalike/projection';

const model = { id: 'm', sha256: 'a'.repeat(64), dimension: 3 };

function identityLike(): LinearProjection {
  // Maps (x0, x1, x2) to (x0 − 0.1, x2): a 3 → 2 projection.
  return new LinearProjection({
    kind: 'test',
    model,
    fittedOn: 10,
    fittedAt: '2026-01-01T00:00:00.000Z',
    inputPower: 1,
    mean: Float32Array.from([0.1, 0, 0]),
    weights: Float32Array.from([1, 0, 0, 0, 0, 1]),
    outputDimension: 2,
  });
}

describe('LinearProjection', () => {
  it('centres, maps and L2-normalises each vector', () => {
    const out = identityLike().project(Float32Array.from([0.4, 9, 0.4, 0.1, 5, 0]));
    expect(Array.from(out.subarray(0, 2)).map((v) => +v.toFixed(6))).toEqual([0.6, 0.8]);
    // A vector that maps to zero stays zero rather than becoming NaN.
    expect(Array.from(out.subarray(2, 4))).toEqual([0, 0]);
  });

  it('round-trips through encode/decode with the same id and outputs', () => {
    const p = identityLike();
    const q = LinearProjection.decode(p.encode());
    expect(q.descriptor).toEqual(p.descriptor);
    const raw = Float32Array.from([0.3, 0.2, -0.5]);
    expect(q.project(raw)).toEqual(p.project(raw));
    expect(p.descriptor.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a truncated or foreign file', () => {
    const bytes = identityLike().encode();
    expect(() => LinearProjection.decode(bytes.subarray(0, bytes.length - 4))).toThrow(ProjectionFormatError);
    expect(() => LinearProjection.decode(new Uint8Array(40))).toThrow(ProjectionFormatError);
  });

  it('rejects weights that do not fit the dimensions', () => {
    expect(
      () =>
        new LinearProjection({
          kind: 'test',
          model,
          fittedOn: 1,
          fittedAt: '',
          inputPower: 1,
          mean: new Float32Array(3),
          weights: new Float32Array(5),
          outputDimension: 2,
        }),
    ).toThrow(RangeError);
  });
});
