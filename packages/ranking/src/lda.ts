import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

export interface LdaOptions {
  /** Output dimensions (at most classes − 1). */
  dimensions: number;
  /** Shrinkage of the within-class scatter towards a scaled identity, 0..1. */
  shrinkage: number;
  /** Classes with fewer labelled items take no part in the fit. */
  minClassSize: number;
  /** The within-class scatter is estimated from at most this many items (stratified), to bound the fit time. */
  maxScatterSamples: number;
  /** Seed of the stratified sample, so a fit is reproducible. */
  seed?: number;
}

export interface LdaProjection {
  /** Input dimension. */
  inputDimension: number;
  /** Output dimension m. */
  dimensions: number;
  /** Mean subtracted before projecting (inputDimension floats). */
  mean: Float32Array;
  /** Row-major m × inputDimension: row r is discriminant direction r. */
  weights: Float32Array;
  /** Between/within variance ratio of each direction, best first. */
  eigenvalues: number[];
  /** The classes that took part, in the order of their label ids. */
  classes: string[];
}

/** A small deterministic PRNG (mulberry32): the fit must not depend on Math.random. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Adds the outer products of `count` rows of `rows` (each `d` floats, already centred) into the
 * upper triangle of `scatter` (d × d, row-major). Four rows per pass: one load/store of the scatter
 * cell per four multiply-adds, which is what makes the O(n·d²) part affordable in plain JS.
 */
function accumulateScatter(scatter: Float64Array, rows: Float64Array, count: number, d: number): void {
  let r = 0;
  for (; r + 3 < count; r += 4) {
    const o0 = r * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    for (let i = 0; i < d; i++) {
      const a0 = rows[o0 + i] as number;
      const a1 = rows[o1 + i] as number;
      const a2 = rows[o2 + i] as number;
      const a3 = rows[o3 + i] as number;
      const base = i * d;
      for (let j = i; j < d; j++) {
        scatter[base + j] =
          (scatter[base + j] as number) +
          a0 * (rows[o0 + j] as number) +
          a1 * (rows[o1 + j] as number) +
          a2 * (rows[o2 + j] as number) +
          a3 * (rows[o3 + j] as number);
      }
    }
  }
  for (; r < count; r++) {
    const o = r * d;
    for (let i = 0; i < d; i++) {
      const a = rows[o + i] as number;
      if (a === 0) continue;
      const base = i * d;
      for (let j = i; j < d; j++)
        scatter[base + j] = (scatter[base + j] as number) + a * (rows[o + j] as number);
    }
  }
}

/** In-place Cholesky of a symmetric positive-definite matrix (upper triangle read); returns lower L. */
function cholesky(a: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    const rowJ = j * d;
    let diag = a[rowJ + j] as number;
    for (let k = 0; k < j; k++) diag -= (l[rowJ + k] as number) ** 2;
    if (!(diag > 0)) throw new RangeError(`within-class scatter is not positive definite (pivot ${j})`);
    const ljj = Math.sqrt(diag);
    l[rowJ + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      const rowI = i * d;
      let sum = a[rowJ + i] as number; // upper triangle: a[j][i] == a[i][j]
      for (let k = 0; k < j; k++) sum -= (l[rowI + k] as number) * (l[rowJ + k] as number);
      l[rowI + j] = sum / ljj;
    }
  }
  return l;
}

/** Solves L·X = B for X (B: d × c row-major), L lower triangular. */
function forwardSubstitute(l: Float64Array, b: Float64Array, d: number, c: number): Float64Array {
  const x = new Float64Array(d * c);
  const acc = new Float64Array(c);
  for (let i = 0; i < d; i++) {
    for (let t = 0; t < c; t++) acc[t] = b[i * c + t] as number;
    const rowI = i * d;
    for (let k = 0; k < i; k++) {
      const lik = l[rowI + k] as number;
      if (lik === 0) continue;
      const rowK = k * c;
      for (let t = 0; t < c; t++) acc[t] = (acc[t] as number) - lik * (x[rowK + t] as number);
    }
    const lii = l[rowI + i] as number;
    for (let t = 0; t < c; t++) x[i * c + t] = (acc[t] as number) / lii;
  }
  return x;
}

/** Solves Lᵀ·X = B for X (B: d × c row-major), L lower triangular. */
function backSubstitute(l: Float64Array, b: Float64Array, d: number, c: number): Float64Array {
  const x = new Float64Array(d * c);
  const acc = new Float64Array(c);
  for (let i = d - 1; i >= 0; i--) {
    for (let t = 0; t < c; t++) acc[t] = b[i * c + t] as number;
    for (let k = i + 1; k < d; k++) {
      const lki = l[k * d + i] as number; // (Lᵀ)[i][k]
      if (lki === 0) continue;
      const rowK = k * c;
      for (let t = 0; t < c; t++) acc[t] = (acc[t] as number) - lki * (x[rowK + t] as number);
    }
    const lii = l[i * d + i] as number;
    for (let t = 0; t < c; t++) x[i * c + t] = (acc[t] as number) / lii;
  }
  return x;
}

/**
 * Regularised (shrinkage) linear discriminant analysis.
 *
 * Sw = within-class scatter (from a stratified sample), shrunk towards (tr Sw / d)·I; Sb = between-
 * class scatter of the class means (all labelled items). The discriminant directions solve
 * Sb·w = λ·Sw·w. Because Sb has rank ≤ classes − 1, the problem is solved in that small space:
 * with Sw = L·Lᵀ and B = L⁻¹·M (M: the weighted, centred class means as columns), the eigenvectors
 * of Bᵀ·B (classes × classes) give the directions w = L⁻ᵀ·B·v / √λ. Cost: the scatter O(n·d²), one
 * Cholesky O(d³/6) and two triangular solves O(d²·classes) — no d × d eigen-decomposition.
 *
 * `vectors`: n × d row-major; `labels`: one string per row, null when unlabelled. Returns null when
 * fewer than two classes have `minClassSize` items (nothing to discriminate).
 */
export function fitLda(
  vectors: Float32Array,
  d: number,
  labels: ReadonlyArray<string | null>,
  options: LdaOptions,
): LdaProjection | null {
  const n = labels.length;
  if (vectors.length !== n * d) throw new RangeError(`fitLda: ${vectors.length} floats for ${n} × ${d}`);
  const members = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    if (label === null || label === undefined) continue;
    let list = members.get(label);
    if (!list) members.set(label, (list = []));
    list.push(i);
  }
  const classes = [...members.entries()]
    .filter(([, list]) => list.length >= options.minClassSize)
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1));
  const c = classes.length;
  if (c < 2) return null;
  const m = Math.max(1, Math.min(options.dimensions, c - 1));
  const total = classes.reduce((sum, [, list]) => sum + list.length, 0);

  // Class means (all members) and the overall mean of the labelled items taking part.
  const means = new Float64Array(c * d);
  const mean = new Float64Array(d);
  classes.forEach(([, list], k) => {
    const row = k * d;
    for (const i of list) {
      const offset = i * d;
      for (let j = 0; j < d; j++)
        means[row + j] = (means[row + j] as number) + (vectors[offset + j] as number);
    }
    for (let j = 0; j < d; j++) {
      mean[j] = (mean[j] as number) + (means[row + j] as number);
      means[row + j] = (means[row + j] as number) / list.length;
    }
  });
  for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) / total;

  // Within-class scatter from a stratified sample: each class keeps the same fraction of its items.
  const random = seededRandom(options.seed ?? 1);
  const fraction = Math.min(1, options.maxScatterSamples / total);
  const sampled: Array<{ row: number; cls: number }> = [];
  classes.forEach(([, list], k) => {
    const keep = Math.max(Math.min(list.length, 2), Math.round(list.length * fraction));
    const pool = list.slice();
    for (let t = 0; t < keep; t++) {
      const pick = t + Math.floor(random() * (pool.length - t));
      [pool[t], pool[pick]] = [pool[pick] as number, pool[t] as number];
      sampled.push({ row: pool[t] as number, cls: k });
    }
  });
  const scatter = new Float64Array(d * d);
  const block = 64;
  const rows = new Float64Array(block * d);
  for (let start = 0; start < sampled.length; start += block) {
    const count = Math.min(block, sampled.length - start);
    for (let r = 0; r < count; r++) {
      const { row, cls } = sampled[start + r] as { row: number; cls: number };
      const offset = row * d;
      const meanRow = cls * d;
      for (let j = 0; j < d; j++)
        rows[r * d + j] = (vectors[offset + j] as number) - (means[meanRow + j] as number);
    }
    accumulateScatter(scatter, rows, count, d);
  }
  let trace = 0;
  for (let j = 0; j < d; j++) trace += scatter[j * d + j] as number;
  const samples = sampled.length;
  const alpha = Math.min(1, Math.max(0, options.shrinkage));
  const ridge = (alpha * trace) / samples / d + 1e-9;
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) scatter[i * d + j] = ((1 - alpha) * (scatter[i * d + j] as number)) / samples;
    scatter[i * d + i] = (scatter[i * d + i] as number) + ridge;
  }

  // Between-class: columns √(n_c / n)·(μ_c − μ), as a d × c row-major matrix.
  const between = new Float64Array(d * c);
  classes.forEach(([, list], k) => {
    const w = Math.sqrt(list.length / total);
    for (let j = 0; j < d; j++) between[j * c + k] = w * ((means[k * d + j] as number) - (mean[j] as number));
  });
  const l = cholesky(scatter, d);
  const b = forwardSubstitute(l, between, d, c); // L⁻¹·M
  const gram = new Matrix(c, c);
  for (let p = 0; p < c; p++) {
    for (let q = p; q < c; q++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (b[j * c + p] as number) * (b[j * c + q] as number);
      gram.set(p, q, s);
      gram.set(q, p, s);
    }
  }
  const eig = new EigenvalueDecomposition(gram, { assumeSymmetric: true });
  const values = eig.realEigenvalues;
  const vectorsOfGram = eig.eigenvectorMatrix;
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]);
  const chosen = order.slice(0, m).filter(([v]) => v > 1e-12);
  const k = chosen.length;
  if (k === 0) return null;
  // u_r = B·v_r / √λ_r (d × k), then w_r = L⁻ᵀ·u_r.
  const u = new Float64Array(d * k);
  chosen.forEach(([value, index], r) => {
    const scale = 1 / Math.sqrt(value);
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let p = 0; p < c; p++) s += (b[j * c + p] as number) * vectorsOfGram.get(p, index);
      u[j * k + r] = s * scale;
    }
  });
  const w = backSubstitute(l, u, d, k);
  const weights = new Float32Array(k * d);
  for (let r = 0; r < k; r++) for (let j = 0; j < d; j++) weights[r * d + j] = w[j * k + r] as number;
  return {
    inputDimension: d,
    dimensions: k,
    mean: Float32Array.from(mean),
    weights,
    eigenvalues: chosen.map(([v]) => v),
    classes: classes.map(([label]) => label),
  };
}

/** z = W·(x − mean), written into `out` (m floats). */
export function project(lda: LdaProjection, x: Float32Array, out: Float32Array, xOffset = 0): Float32Array {
  const { inputDimension: d, dimensions: m, mean, weights } = lda;
  for (let r = 0; r < m; r++) {
    const row = r * d;
    let s0 = 0;
    let s1 = 0;
    let j = 0;
    for (; j + 1 < d; j += 2) {
      s0 += (weights[row + j] as number) * ((x[xOffset + j] as number) - (mean[j] as number));
      s1 += (weights[row + j + 1] as number) * ((x[xOffset + j + 1] as number) - (mean[j + 1] as number));
    }
    for (; j < d; j++)
      s0 += (weights[row + j] as number) * ((x[xOffset + j] as number) - (mean[j] as number));
    out[r] = s0 + s1;
  }
  return out;
}
