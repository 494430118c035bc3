import { seededRandom } from '@lookalike/ranking';
import {
  LinearProjection,
  fitProjection,
  fitProjectionWithStats,
  type FitOptions,
} from '@lookalike/projection';

const FITTED_AT = '2026-01-01T00:00:00.000Z';

/** Gaussian-ish noise (sum of uniforms), deterministic. */
function noise(random: () => number): number {
  return random() + random() + random() + random() - 2;
}

/**
 * `count` vectors in d dimensions: a random orthonormal set of `spreads.length` directions (Gram–Schmidt
 * of random vectors) with standard deviations `spreads`, plus isotropic noise of `noiseSd`, around an
 * offset mean. Returns the data and the true directions, strongest first.
 */
function synthetic(count: number, d: number, spreads: number[], noiseSd: number, seed = 3) {
  const random = seededRandom(seed);
  const directions: Float64Array[] = [];
  for (let k = 0; k < spreads.length; k++) {
    const v = Float64Array.from({ length: d }, () => noise(random));
    for (const u of directions) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += (v[i] as number) * (u[i] as number);
      for (let i = 0; i < d; i++) v[i] = (v[i] as number) - dot * (u[i] as number);
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < d; i++) v[i] = (v[i] as number) / norm;
    directions.push(v);
  }
  const data = new Float32Array(count * d);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < d; i++) data[n * d + i] = 0.5 + noiseSd * noise(random);
    spreads.forEach((sd, k) => {
      const a = sd * noise(random);
      const u = directions[k] as Float64Array;
      for (let i = 0; i < d; i++) data[n * d + i] = (data[n * d + i] as number) + a * (u[i] as number);
    });
  }
  return { data, directions };
}

function model(d: number) {
  return { id: 'synthetic', sha256: 'b'.repeat(64), dimension: d };
}

/** |cosine| between column j of the fitted weights (via the unnormalised transform of basis vectors) and u. */
function columnCosine(p: LinearProjection, j: number, u: Float64Array): number {
  const d = p.inputDimension;
  // transform(e_i) − transform(0) = row i of W: the column j is read off d basis vectors.
  const basis = new Float32Array(d * d);
  for (let i = 0; i < d; i++) basis[i * d + i] = 1;
  const rows = p.transform(basis);
  const zero = p.transform(new Float32Array(d));
  const k = p.outputDimension;
  let dot = 0;
  let norm = 0;
  for (let i = 0; i < d; i++) {
    const w = (rows[i * k + j] as number) - (zero[j] as number);
    dot += w * (u[i] as number);
    norm += w * w;
  }
  return Math.abs(dot) / Math.sqrt(norm);
}

function covarianceOf(y: Float32Array, k: number): number[][] {
  const n = y.length / k;
  const mean = new Array<number>(k).fill(0);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < k; j++) mean[j] = (mean[j] as number) + (y[r * k + j] as number) / n;
  const c = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let r = 0; r < n; r++)
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++)
        (c[a] as number[])[b] =
          ((c[a] as number[])[b] as number) +
          (((y[r * k + a] as number) - (mean[a] as number)) *
            ((y[r * k + b] as number) - (mean[b] as number))) /
            (n - 1);
  return c;
}

describe('fitProjection', () => {
  it.each([
    ['direct eigen-decomposition', 24, 4],
    ['randomised subspace iteration', 700, 6],
  ])('finds the known principal directions, strongest first (%s)', (_path, d, k) => {
    const spreads = [4, 3, 2, 1.5, 1.2, 1, 0.8].slice(0, k);
    const { data, directions } = synthetic(3000, d, spreads, 0.05);
    const p = fitProjection(data, 3000, model(d), { outputDimension: k, beta: 0, fittedAt: FITTED_AT });
    for (let j = 0; j < k; j++)
      expect(columnCosine(p, j, directions[j] as Float64Array)).toBeGreaterThan(0.99);
  });

  it('whitens: the fitted data maps to ~identity covariance', () => {
    const d = 40;
    const { data } = synthetic(4000, d, [5, 3, 2, 1, 0.5], 0.1);
    const p = fitProjection(data, 4000, model(d), { outputDimension: 8, fittedAt: FITTED_AT, epsilon: 0 });
    const c = covarianceOf(p.transform(data), 8);
    for (let a = 0; a < 8; a++)
      for (let b = 0; b < 8; b++) expect((c[a] as number[])[b]).toBeCloseTo(a === b ? 1 : 0, 2);
  });

  it('partial whitening and shrinkage keep the components ordered but compress their spread', () => {
    const d = 30;
    const { data } = synthetic(3000, d, [6, 2, 1], 0.05);
    const sd = (options: Partial<FitOptions>) => {
      const p = fitProjection(data, 3000, model(d), { outputDimension: 3, fittedAt: FITTED_AT, ...options });
      const c = covarianceOf(p.transform(data), 3);
      return [0, 1, 2].map((j) => Math.sqrt((c[j] as number[])[j] as number));
    };
    const plain = sd({ beta: 0 });
    const half = sd({ beta: 0.25 });
    const shrunk = sd({ beta: 0.5, shrinkage: 0.9 });
    expect((plain[0] as number) / (plain[2] as number)).toBeCloseTo(6, 0);
    // λ^−1/4 scaling: standard deviations ∝ √σ, so the ratio 6 becomes √6.
    expect((half[0] as number) / (half[2] as number)).toBeCloseTo(Math.sqrt(6), 1);
    // Shrunk towards the mean eigenvalue: between full whitening (ratio 1) and none (6).
    const full = sd({ beta: 0.5 });
    expect((full[0] as number) / (full[2] as number)).toBeCloseTo(1, 1);
    expect((shrunk[0] as number) / (shrunk[2] as number)).toBeGreaterThan(1.5);
    expect((shrunk[0] as number) / (shrunk[2] as number)).toBeLessThan(5);
  });

  it('is deterministic: the same data and options give the same projection id', () => {
    const d = 600;
    const { data } = synthetic(500, d, [3, 2, 1], 0.1, 9);
    const options = { outputDimension: 16, fittedAt: FITTED_AT, inputPower: 0.5 };
    const a = fitProjection(data, 500, model(d), options);
    const b = fitProjection(data, 500, model(d), options);
    expect(a.descriptor.id).toBe(b.descriptor.id);
    expect(a.descriptor).toMatchObject({
      kind: 'pca-whiten',
      inputDimension: d,
      outputDimension: 16,
      fittedOn: 500,
      inputPower: 0.5,
    });
    // A different seed moves the random start, not the answer: the top directions agree.
    const c = fitProjection(data, 500, model(d), { ...options, seed: 7 });
    const ya = a.project(data.subarray(0, d * 3));
    const yc = c.project(data.subarray(0, d * 3));
    for (let j = 0; j < 2; j++) expect(Math.abs((ya[j] as number) - (yc[j] as number))).toBeLessThan(0.02);
  });

  it('estimates the covariance from an even stride when count exceeds maxSamples', () => {
    const d = 20;
    const { data, directions } = synthetic(2000, d, [4, 1], 0.05);
    const { projection, stats } = fitProjectionWithStats(data, 2000, model(d), {
      outputDimension: 2,
      beta: 0,
      maxSamples: 400,
    });
    expect(stats.samples).toBe(400);
    expect(stats.eigenvalues).toHaveLength(2);
    expect(stats.explainedVariance).toBeGreaterThan(0.9);
    expect(columnCosine(projection, 0, directions[0] as Float64Array)).toBeGreaterThan(0.99);
  });

  it('joins LDA directions that keep a low-variance class signal PCA would drop', () => {
    const d = 30;
    const count = 2000;
    // High-variance directions carry no class; the class is a small shift along a weak direction.
    const { data, directions } = synthetic(count, d, [5, 4, 3, 0.01], 0.02, 11);
    const labels = Array.from({ length: count }, (_v, n) => (n % 2 === 0 ? 'a' : 'b'));
    const weak = directions[3] as Float64Array;
    for (let n = 0; n < count; n++)
      for (let i = 0; i < d; i++)
        data[n * d + i] = (data[n * d + i] as number) + (n % 2 === 0 ? 0.1 : -0.1) * (weak[i] as number);
    const separation = (p: LinearProjection) => {
      const y = p.transform(data);
      const k = p.outputDimension;
      // Best single-coordinate Fisher ratio: (mean difference)² / pooled variance.
      let best = 0;
      for (let j = 0; j < k; j++) {
        const stats = [0, 1].map((cls) => {
          const values = [];
          for (let n = cls; n < count; n += 2) values.push(y[n * k + j] as number);
          const mean = values.reduce((a, b) => a + b, 0) / values.length;
          const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
          return { mean, variance };
        });
        const [a, b] = stats as [{ mean: number; variance: number }, { mean: number; variance: number }];
        best = Math.max(best, (a.mean - b.mean) ** 2 / ((a.variance + b.variance) / 2));
      }
      return best;
    };
    const pca = fitProjection(data, count, model(d), { outputDimension: 3, fittedAt: FITTED_AT });
    const { projection: joined, stats } = fitProjectionWithStats(data, count, model(d), {
      outputDimension: 3,
      ldaDimensions: 1,
      labels,
      fittedAt: FITTED_AT,
    });
    expect(stats.ldaDimensions).toBe(1);
    expect(joined.descriptor.kind).toBe('pca-whiten+lda');
    expect(separation(pca)).toBeLessThan(1);
    expect(separation(joined)).toBeGreaterThan(20);
    // The joined coordinate is scaled like a whitened one (unit variance × ldaWeight 1).
    const c = covarianceOf(joined.transform(data), 3);
    expect((c[2] as number[])[2]).toBeCloseTo(1, 1);
    expect(() => fitProjection(data, count, model(d), { outputDimension: 3, ldaDimensions: 1 })).toThrow(
      RangeError,
    );
  });

  it('uncentred (centre: false) with every dimension kept is a rotation: inner products unchanged', () => {
    const d = 12;
    const { data } = synthetic(500, d, [2, 1], 0.1, 4);
    const p = fitProjection(data, 500, model(d), {
      outputDimension: d,
      beta: 0,
      centre: false,
      fittedAt: FITTED_AT,
    });
    const y = p.transform(data.subarray(0, 3 * d));
    const dot = (v: Float32Array, a: number, b: number, n: number) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (v[a * n + i] as number) * (v[b * n + i] as number);
      return s;
    };
    for (const [a, b] of [
      [0, 1],
      [1, 2],
      [2, 2],
    ] as const)
      expect(dot(y, a, b, d)).toBeCloseTo(dot(data, a, b, d), 4);
  });

  it('checks dimensions', () => {
    const m = model(8);
    expect(() => fitProjection(new Float32Array(80), 10, m, { outputDimension: 9 })).toThrow(RangeError);
    expect(() => fitProjection(new Float32Array(80), 10, m, { outputDimension: 0 })).toThrow(RangeError);
    expect(() => fitProjection(new Float32Array(79), 10, m, { outputDimension: 2 })).toThrow(RangeError);
    const p = fitProjection(synthetic(10, 8, [1], 0.1).data, 10, m, { outputDimension: 3 });
    expect(p.project(new Float32Array(8 * 5))).toHaveLength(15);
    expect(() => p.project(new Float32Array(7))).toThrow(RangeError);
  });
});

describe('LinearProjection.projectMany', () => {
  it('gives the plain loop’s vectors to float tolerance (BLAS route, with power normalisation)', () => {
    const d = 300;
    const { data } = synthetic(700, d, [3, 2, 1, 0.5], 0.2, 5);
    const p = fitProjection(data, 700, model(d), {
      outputDimension: 64,
      inputPower: 0.5,
      fittedAt: FITTED_AT,
    });
    const many = p.projectMany(data);
    const scalar = p.projectScalar(data);
    expect(many).toHaveLength(700 * 64);
    let worst = 0;
    for (let i = 0; i < many.length; i++)
      worst = Math.max(worst, Math.abs((many[i] as number) - (scalar[i] as number)));
    expect(worst).toBeLessThan(1e-4);
    // project() picks the route by batch size and agrees with both.
    expect(Array.from(p.project(data.subarray(0, d * 2)))).toEqual(Array.from(scalar.subarray(0, 128)));
    const big = p.project(data);
    expect(big).toEqual(many);
    // Every output vector is L2-normalised.
    for (let r = 0; r < 5; r++) expect(Math.hypot(...many.subarray(r * 64, (r + 1) * 64))).toBeCloseTo(1, 5);
  });

  it('survives encode/decode with the same outputs', () => {
    const d = 50;
    const { data } = synthetic(200, d, [2, 1], 0.1);
    const p = fitProjection(data, 200, model(d), { outputDimension: 10, fittedAt: FITTED_AT });
    const q = LinearProjection.decode(p.encode());
    expect(q.descriptor).toEqual(p.descriptor);
    expect(q.projectMany(data)).toEqual(p.projectMany(data));
  });
});
