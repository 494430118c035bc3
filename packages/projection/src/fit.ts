import type { ModelIdentity } from '@lookalike/contracts';
import { DEFAULT_RANKING_CONFIG, fitLda, seededRandom } from '@lookalike/ranking';
import { CholeskyDecomposition, EigenvalueDecomposition, Matrix, QrDecomposition, inverse } from 'ml-matrix';
import { multiplyTransposed, transpose } from './blas';
import { LinearProjection } from './linear-projection';

export interface FitOptions {
  /** Output dimensions (≤ the input dimension). */
  outputDimension: number;
  /**
   * Whitening exponent β: component j is scaled by λⱼ^−β. 0 = plain PCA (rotation + truncation),
   * 0.5 = full whitening (unit variance per component), in between = partial whitening.
   */
  beta?: number;
  /**
   * Shrinkage α of the eigenvalues towards their mean (trace / d) before whitening:
   * λ' = (1 − α)·λ + α·trace/d. Tames the blow-up of the weakest kept components.
   */
  shrinkage?: number;
  /** Relative floor ε: λ' + ε·λ'₁ is whitened, so a rank-deficient fit never divides by ~0. */
  epsilon?: number;
  /**
   * false: no centring — the eigenvectors of the second-moment matrix XᵀX/n and a zero mean (an
   * "uncentred PCA"). Projected inner products then approximate the raw ones (the strongest direction
   * is ~ the mean), so the cosine keeps the raw space's narrow spread the ranking's weights were tuned on.
   */
  centre?: boolean;
  /** sign(x)·|x|^p applied to every raw component before anything else; 1 = none. */
  inputPower?: number;
  /**
   * The covariance is estimated from at most this many items (evenly strided over the input, so the
   * fit is deterministic); the mean always uses every item. Its cost is samples × d² multiply-adds.
   */
  maxSamples?: number;
  /** Subspace-iteration passes for the top eigenvectors (see fitProjection). */
  iterations?: number;
  /** Extra subspace dimensions beyond outputDimension (accuracy of the weakest kept components). */
  oversampling?: number;
  /** Seed of the subspace iteration's random start. */
  seed?: number;
  /**
   * Discriminant directions joined to the PCA ones: the last `ldaDimensions` of the output are the
   * ranking's own regularised LDA (packages/ranking `fitLda`, its default shrinkage, class size and
   * scatter sample) fitted on `labels`, each scaled to the mean variance of the kept PCA output
   * coordinates (1 when fully whitened) × `ldaWeight`, so that the
   * projection keeps what separates the classes even where it carries little variance. 0 = none.
   */
  ldaDimensions?: number;
  /** One label per item (the ranking's first label field), null when unlabelled; needed with ldaDimensions. */
  labels?: ReadonlyArray<string | null>;
  /** Scale of the joined LDA coordinates relative to a whitened PCA coordinate. */
  ldaWeight?: number;
  /** Recorded in the descriptor; default 'pca' when β = 0, else 'pca-whiten'. */
  kind?: string;
  /** ISO 8601 written into the descriptor; default now (pass one for byte-identical refits). */
  fittedAt?: string;
  /** Recorded in the descriptor as the items the fit describes; default `count` (pass the catalogue's size when `raw` is a sample of it). */
  fittedOn?: number;
}

export const FIT_DEFAULTS = {
  beta: 0.5,
  shrinkage: 0,
  epsilon: 1e-4,
  inputPower: 1,
  maxSamples: 20_000,
  iterations: 2,
  oversampling: 64,
  seed: 1,
};

export interface FitStats {
  durationMs: number;
  /** Items the covariance was estimated from. */
  samples: number;
  /** Eigenvalues of the kept components (before shrinkage), largest first. */
  eigenvalues: number[];
  /** Share of the total variance the kept PCA components explain. */
  explainedVariance: number;
  /** LDA directions joined (0 when none were asked for or the labels had fewer than two classes). */
  ldaDimensions: number;
}

export interface FittedProjection {
  projection: LinearProjection;
  stats: FitStats;
}

function powered(x: number, power: number): number {
  return power === 1 ? x : Math.sign(x) * Math.abs(x) ** power;
}

function toMatrix(data: Float32Array, rows: number, cols: number): Matrix {
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) m.setRow(i, Array.from(data.subarray(i * cols, (i + 1) * cols)));
  return m;
}

function fromMatrix(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.columns);
  for (let i = 0; i < m.rows; i++) out.set(m.getRow(i), i * m.columns);
  return out;
}

/**
 * Orthonormal basis Qᵀ (l × d) of the rows of yᵀ (l × d). CholeskyQR2 — Gram matrix by BLAS, Cholesky
 * and triangular inverse in ml-matrix on the small l × l side, twice (the second pass restores the
 * orthogonality the first loses to float32) — is ~20× faster than ml-matrix's Householder QR of the
 * d × l matrix (3 s at 2304 × 320). Falls back to that QR when the Gram matrix is not positive definite
 * (a rank-deficient subspace).
 */
function orthonormalRows(yt: Float32Array, l: number, d: number): Float32Array {
  let rows = yt;
  for (let pass = 0; pass < 2; pass++) {
    const gram = toMatrix(multiplyTransposed(rows, rows, d), l, l);
    const cholesky = new CholeskyDecomposition(gram.add(gram.transpose()).mul(0.5));
    if (!cholesky.isPositiveDefinite()) {
      const q = new QrDecomposition(toMatrix(yt, l, d).transpose()).orthogonalMatrix;
      return fromMatrix(q.transpose());
    }
    // Y = Q·Lᵀ, so Qᵀ = L⁻¹·Yᵀ.
    const lowerInverse = fromMatrix(inverse(cholesky.lowerTriangularMatrix));
    rows = multiplyTransposed(lowerInverse, transpose(rows, l, d), l);
  }
  return rows;
}

/** Symmetric eigen-decomposition, largest eigenvalue first: values and (columns of) vectors. */
function symmetricEigen(a: Matrix): { values: number[]; vectors: Matrix } {
  // Averaging with the transpose removes float32 asymmetry from the BLAS products.
  const symmetric = a.add(a.transpose()).mul(0.5);
  const evd = new EigenvalueDecomposition(symmetric, { assumeSymmetric: true });
  const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]);
  const vectors = new Matrix(a.rows, a.rows);
  order.forEach(([, i], col) => vectors.setColumn(col, evd.eigenvectorMatrix.getColumn(i)));
  return { values: order.map(([v]) => v), vectors };
}

/**
 * Fits a PCA(-whitening) projection on the catalogue's own raw embeddings.
 *
 * 1. x ← sign(x)|x|^p (power normalisation), mean over all items, covariance C = XᵀX/(n−1) of the
 *    centred items (an even stride of at most `maxSamples`), with BLAS (faiss's sgemm route).
 * 2. The top `outputDimension` eigenpairs of C. For small d (≤ 512), or when the kept subspace is
 *    most of the space, ml-matrix's symmetric eigen-decomposition of C itself. Otherwise — a full
 *    d × d decomposition of the 2304-d ensemble takes minutes in JS — randomised subspace iteration
 *    (Halko, Martinsson & Tropp 2011, algorithm 4.4): Q ← orth(C·Q) `iterations` times from a random
 *    d × (k + oversampling) start, with the products in BLAS and the small factorisations in
 *    ml-matrix (CholeskyQR2, see orthonormalRows), then the
 *    eigen-decomposition of the small QᵀCQ (Rayleigh–Ritz). Its error on the kept eigenvalues falls
 *    as (λ_{k+p}/λ_k)^(2·iterations).
 * 3. W = U·diag(s), s_j = ((1−α)λⱼ + α·trace/d + ε·λ₁)^−β, each column's sign fixed so that its
 *    largest component is positive (refits of the same data give the same map).
 *
 * `raw`: count × model.dimension floats, row-major.
 */
export function fitProjection(
  raw: Float32Array,
  count: number,
  model: ModelIdentity,
  options: FitOptions,
): LinearProjection {
  return fitProjectionWithStats(raw, count, model, options).projection;
}

/** fitProjection, with what the fit saw and took (for logs and the evaluation report). */
export function fitProjectionWithStats(
  raw: Float32Array,
  count: number,
  model: ModelIdentity,
  options: FitOptions,
): FittedProjection {
  const started = performance.now();
  const d = model.dimension;
  const k = options.outputDimension;
  if (raw.length !== count * d)
    throw new RangeError(`fitProjection: ${raw.length} floats for ${count} × ${d}`);
  if (!Number.isInteger(k) || k < 1 || k > d)
    throw new RangeError(`outputDimension must be 1..${d}, got ${k}`);
  if (count < 2) throw new RangeError('fitProjection needs at least two items');
  const beta = options.beta ?? FIT_DEFAULTS.beta;
  const alpha = options.shrinkage ?? FIT_DEFAULTS.shrinkage;
  const epsilon = options.epsilon ?? FIT_DEFAULTS.epsilon;
  const power = options.inputPower ?? FIT_DEFAULTS.inputPower;
  const maxSamples = Math.max(2, options.maxSamples ?? FIT_DEFAULTS.maxSamples);

  // Mean of the powered vectors over every item (zero when not centring).
  const mean64 = new Float64Array(d);
  const centre = options.centre ?? true;
  for (let n = 0; centre && n < count; n++) {
    const o = n * d;
    for (let i = 0; i < d; i++) mean64[i] = (mean64[i] as number) + powered(raw[o + i] as number, power);
  }
  if (centre) for (let i = 0; i < d; i++) mean64[i] = (mean64[i] as number) / count;
  const mean = Float32Array.from(mean64);

  // Centred sample, stored transposed (d rows of `samples` floats) for the XᵀX product.
  const samples = Math.min(count, maxSamples);
  const xt = new Float32Array(d * samples);
  for (let s = 0; s < samples; s++) {
    const o = Math.floor((s * count) / samples) * d;
    for (let i = 0; i < d; i++)
      xt[i * samples + s] = powered(raw[o + i] as number, power) - (mean[i] as number);
  }
  const covariance = multiplyTransposed(xt, xt, samples);
  const scale = 1 / (samples - 1);
  let trace = 0;
  for (let i = 0; i < covariance.length; i++) covariance[i] = (covariance[i] as number) * scale;
  for (let i = 0; i < d; i++) trace += covariance[i * d + i] as number;

  const l = Math.min(d, k + (options.oversampling ?? FIT_DEFAULTS.oversampling));
  let values: number[];
  let vectors: Float32Array; // d × k row-major
  if (d <= 512 || 2 * l >= d) {
    const eig = symmetricEigen(toMatrix(covariance, d, d));
    values = eig.values.slice(0, k);
    vectors = fromMatrix(eig.vectors.subMatrix(0, d - 1, 0, k - 1));
  } else {
    const random = seededRandom(options.seed ?? FIT_DEFAULTS.seed);
    let qt: Float32Array = new Float32Array(l * d); // Qᵀ: l rows of d floats
    for (let i = 0; i < qt.length; i++) qt[i] = random() - 0.5;
    const iterations = options.iterations ?? FIT_DEFAULTS.iterations;
    for (let it = 0; it <= iterations; it++) {
      // (C·Q)ᵀ = Qᵀ·C (C symmetric): l × d, then orthonormalised (QR of the d × l matrix).
      qt = orthonormalRows(multiplyTransposed(qt, covariance, d), l, d);
    }
    const cqT = multiplyTransposed(qt, covariance, d); // (C·Q)ᵀ, l × d
    const small = toMatrix(multiplyTransposed(cqT, qt, d), l, l); // QᵀCQ
    const eig = symmetricEigen(small);
    values = eig.values.slice(0, k);
    // U = Q·V (d × k): rows of Q (= columns of Qᵀ) times the top k Ritz vectors.
    const vt = fromMatrix(eig.vectors.subMatrix(0, l - 1, 0, k - 1).transpose()); // k × l
    vectors = multiplyTransposed(transpose(qt, l, d), vt, l);
  }

  const top = Math.max(values[0] ?? 0, Number.MIN_VALUE);
  const weights = new Float32Array(d * k);
  const scales: number[] = [];
  for (let j = 0; j < k; j++) {
    const lambda = Math.max(0, values[j] as number);
    const s = ((1 - alpha) * lambda + (alpha * trace) / d + epsilon * top) ** -beta;
    let largest = 0;
    for (let i = 0; i < d; i++) {
      const v = vectors[i * k + j] as number;
      if (Math.abs(v) > Math.abs(largest)) largest = v;
    }
    const sign = largest < 0 ? -1 : 1;
    scales.push(s);
    for (let i = 0; i < d; i++) weights[i * k + j] = (vectors[i * k + j] as number) * s * sign;
  }
  const ldaAsked = Math.min(options.ldaDimensions ?? 0, k - 1);
  let ldaJoined = 0;
  if (ldaAsked > 0) {
    if (!options.labels || options.labels.length !== count)
      throw new RangeError(`ldaDimensions needs one label per item (${count})`);
    const input = power === 1 ? raw : raw.map((x) => powered(x, power));
    const lda = fitLda(input, d, options.labels, {
      dimensions: ldaAsked,
      shrinkage: DEFAULT_RANKING_CONFIG.ldaShrinkage,
      minClassSize: DEFAULT_RANKING_CONFIG.minClassSize,
      maxScatterSamples: DEFAULT_RANKING_CONFIG.maxScatterSamples,
    });
    if (lda) {
      ldaJoined = lda.dimensions;
      const first = k - ldaJoined; // PCA keeps the first k − m output columns
      // The mean variance of the kept PCA output coordinates (λⱼ·sⱼ²): 1 when fully whitened.
      let pcaVariance = 0;
      for (let j = 0; j < first; j++)
        pcaVariance += Math.max(0, values[j] as number) * (scales[j] as number) ** 2;
      pcaVariance /= Math.max(1, first);
      // Coordinates of the centred sample along each direction (m × samples), for their variance.
      const coords = multiplyTransposed(lda.weights, transpose(xt, d, samples), d);
      const target = (options.ldaWeight ?? 1) * pcaVariance;
      for (let r = 0; r < ldaJoined; r++) {
        let sum = 0;
        let squares = 0;
        for (let s = 0; s < samples; s++) {
          const v = coords[r * samples + s] as number;
          sum += v;
          squares += v * v;
        }
        const variance = squares / samples - (sum / samples) ** 2;
        const scale = variance > 0 ? Math.sqrt(target / variance) : 0;
        for (let i = 0; i < d; i++) weights[i * k + first + r] = (lda.weights[r * d + i] as number) * scale;
      }
    }
  }
  values = values.slice(0, k - ldaJoined);
  const kept = values.reduce((a, b) => a + Math.max(0, b), 0);
  const projection = new LinearProjection({
    kind: (options.kind ?? (beta === 0 ? 'pca' : 'pca-whiten')) + (ldaJoined > 0 ? '+lda' : ''),
    model: { id: model.id, sha256: model.sha256, dimension: d },
    fittedOn: options.fittedOn ?? count,
    fittedAt: options.fittedAt ?? new Date().toISOString(),
    inputPower: power,
    mean,
    weights,
    outputDimension: k,
  });
  return {
    projection,
    stats: {
      durationMs: performance.now() - started,
      samples,
      eigenvalues: values,
      explainedVariance: trace > 0 ? kept / trace : 0,
      ldaDimensions: ldaJoined,
    },
  };
}
