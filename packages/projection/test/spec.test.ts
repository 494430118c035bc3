import {
  DEFAULT_PROJECTION_SPEC,
  formatProjectionSpec,
  parseProjectionSpec,
  ProjectionSpecError,
} from '@lookalike/projection';

describe('parseProjectionSpec', () => {
  it('reads none, pca and pca-whiten with their options', () => {
    expect(parseProjectionSpec('none')).toEqual({ kind: 'none' });
    expect(parseProjectionSpec('pca:128')).toEqual({ kind: 'pca', outputDimension: 128, beta: 0 });
    expect(parseProjectionSpec('pca-whiten:256')).toEqual({
      kind: 'pca-whiten',
      outputDimension: 256,
      beta: 0.5,
    });
    expect(
      parseProjectionSpec(' pca-whiten:256, power=0.5 ,beta=0.3,shrink=0.1,eps=0.001,samples=20000'),
    ).toEqual({
      kind: 'pca-whiten',
      outputDimension: 256,
      inputPower: 0.5,
      beta: 0.3,
      shrinkage: 0.1,
      epsilon: 0.001,
      maxSamples: 20000,
    });
  });

  it('parses the default, which formats back to itself', () => {
    const spec = parseProjectionSpec(DEFAULT_PROJECTION_SPEC);
    expect(spec).toMatchObject({
      kind: 'pca',
      outputDimension: 128,
      inputPower: 0.5,
      centre: false,
      ldaDimensions: 64,
    });
    expect(formatProjectionSpec(spec)).toBe(DEFAULT_PROJECTION_SPEC);
  });

  it('formats a spec back to its canonical text', () => {
    for (const text of [
      'none',
      'pca:64',
      'pca-whiten:256',
      'pca-whiten:256,power=0.5,beta=0.3,shrink=0.1',
      'pca:256,centre=0,lda=45,ldaw=2',
    ])
      expect(formatProjectionSpec(parseProjectionSpec(text))).toBe(text);
  });

  it.each([
    'pca',
    'pca:0',
    'pca:12.5',
    'lda:64',
    'pca-whiten:256,power',
    'pca-whiten:256,power=x',
    'pca-whiten:256,power=9',
    'pca-whiten:256,bogus=1',
    'pca-whiten:256,beta=0.2,beta=0.3',
    'pca:256,beta=0.2',
    'pca-whiten:256,samples=10.5',
    'pca:256,centre=0.5',
    'pca:64,lda=64',
  ])('refuses %s with a typed error', (text) => {
    expect(() => parseProjectionSpec(text)).toThrow(ProjectionSpecError);
    try {
      parseProjectionSpec(text);
    } catch (err) {
      expect((err as ProjectionSpecError).code).toBe('PROJECTION_SPEC_INVALID');
    }
  });
});
