import {
  AUTO_PROJECTION_SPEC,
  ProjectionSpecError,
  decideProjection,
  parseIndexProjection,
  specKind,
  type ProjectionDescriptor,
  type ProjectionPolicyConfig,
  type ProjectionState,
} from '../src';

const model = { id: 'm', sha256: 'a'.repeat(64), dimension: 2304 };
const auto: ProjectionPolicyConfig = {
  spec: parseIndexProjection('auto'),
  minItems: 2000,
  refitFraction: 0.25,
};

function served(kind: string, fittedOn: number): ProjectionDescriptor {
  return {
    kind,
    id: 'p1',
    model,
    inputDimension: 2304,
    outputDimension: 256,
    fittedOn,
    fittedAt: '2026-01-01T00:00:00.000Z',
    inputPower: 1,
  };
}

function state(count: number, projection: ProjectionDescriptor | null, indexedSinceFit = 0): ProjectionState {
  return { count, projection, indexedSinceFit, projectionModelCurrent: true };
}

describe('projection policy (INDEX_PROJECTION, PROJECTION_MIN_ITEMS, PROJECTION_REFIT_FRACTION)', () => {
  const current = served(specKind(parseIndexProjection(AUTO_PROJECTION_SPEC)), 4000);

  it('auto resolves to the default spec; none and bad specs parse as the spec parser says', () => {
    expect(parseIndexProjection('auto')).toEqual(parseIndexProjection(AUTO_PROJECTION_SPEC));
    expect(parseIndexProjection(' none ')).toEqual({ kind: 'none' });
    expect(() => parseIndexProjection('pca-whiten')).toThrow(ProjectionSpecError);
  });

  it('below the minimum: raw is served, and a fitted projection is not cleared (no flapping)', () => {
    expect(decideProjection(state(1999, null), auto).action).toBe('keep');
    expect(decideProjection(state(100, current), auto).action).toBe('keep');
  });

  it('at the minimum without a projection: fit the configured spec', () => {
    const decision = decideProjection(state(2000, null), auto);
    expect(decision).toMatchObject({ action: 'fit', spec: parseIndexProjection('auto') });
  });

  it('none clears a served projection once, then keeps raw', () => {
    const none = { ...auto, spec: parseIndexProjection('none') };
    expect(decideProjection(state(5000, current), none).action).toBe('clear');
    expect(decideProjection(state(5000, null), none).action).toBe('keep');
  });

  it('another spec (or another model) than the served one: refit', () => {
    const pca128 = { ...auto, spec: parseIndexProjection('pca:128') };
    expect(decideProjection(state(4000, current), pca128).action).toBe('fit');
    expect(decideProjection(state(4000, current), auto).action).toBe('keep');
    expect(decideProjection({ ...state(4000, current), projectionModelCurrent: false }, auto).action).toBe(
      'fit',
    );
    // fitProjection's "+lda" suffix (LDA joined) still counts as the same spec.
    const lda = { ...auto, spec: parseIndexProjection('pca-whiten:256,lda=45') };
    const ldaServed = served(`${specKind(lda.spec)}+lda`, 4000);
    expect(decideProjection(state(4000, ldaServed), lda).action).toBe('keep');
  });

  it('refits when the count moved by the refit fraction of fittedOn, either way', () => {
    expect(decideProjection(state(4999, current), auto).action).toBe('keep');
    expect(decideProjection(state(5000, current), auto).action).toBe('fit');
    expect(decideProjection(state(3001, current), auto).action).toBe('keep');
    expect(decideProjection(state(3000, current), auto).action).toBe('fit');
  });

  it('refits when the items indexed since the fit reach the refit fraction of the count (churn at a steady size)', () => {
    expect(decideProjection(state(4000, current, 999), auto).action).toBe('keep');
    expect(decideProjection(state(4000, current, 1000), auto)).toMatchObject({
      action: 'fit',
      reason: '1000 of 4000 items indexed since the fit',
    });
  });
});
