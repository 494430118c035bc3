/**
 * The vector arithmetic of a multi-example query ("more like these, less like that"), Rocchio's
 * relevance-feedback formula in the served space:
 *
 *   q = normalise( mean(positives) − β · mean(negatives) )
 *
 * Every example vector is a unit vector of the served space (a stored item's served vector, or a
 * query image's embedding projected with the answering snapshot's projection), so the means weigh
 * each example equally and the inner product of q with a stored vector is again a cosine.
 */

/**
 * β when a request does not say. Measured on the whole sample catalogue (README, Recommend): 0.25
 * keeps most of what a negative removes at 0.5 while costing half as much of the positives' article
 * type (q loses the part the examples share as β grows); at 1 the results leave the article type.
 */
export const DEFAULT_NEGATIVE_WEIGHT = 0.25;

/** Below this norm mean(positives) − β·mean(negatives) has no direction left to search with. */
export const MIN_QUERY_NORM = 1e-6;

/** Thrown when the examples cancel out (e.g. the same item positive and negative with β = 1). */
export class DegenerateQueryError extends Error {
  constructor(readonly norm: number) {
    super(`the examples cancel out: |mean(positive) − β·mean(negative)| = ${norm.toExponential(2)}`);
  }
}

/** The mean of equal-length vectors (float64 sums: the order of the examples does not matter). */
function meanOf(vectors: readonly Float32Array[], dimension: number): Float64Array {
  const sum = new Float64Array(dimension);
  for (const vector of vectors) {
    if (vector.length !== dimension)
      throw new RangeError(`example vector has ${vector.length} floats, expected ${dimension}`);
    for (let j = 0; j < dimension; j++) sum[j] = (sum[j] as number) + (vector[j] as number);
  }
  if (vectors.length > 0) for (let j = 0; j < dimension; j++) sum[j] = (sum[j] as number) / vectors.length;
  return sum;
}

/**
 * q = normalise(mean(positives) − β·mean(negatives)). Without negatives (or β = 0) it is the
 * normalised mean of the positives, i.e. one positive's own vector. Throws DegenerateQueryError when
 * nothing is left to normalise.
 */
export function rocchioQuery(
  positives: readonly Float32Array[],
  negatives: readonly Float32Array[],
  negativeWeight: number,
): Float32Array {
  const first = positives[0];
  if (!first) throw new RangeError('at least one positive example is needed');
  if (!(negativeWeight >= 0) || !Number.isFinite(negativeWeight))
    throw new RangeError(`negativeWeight must be a finite number ≥ 0, got ${negativeWeight}`);
  const dimension = first.length;
  const q = meanOf(positives, dimension);
  if (negatives.length > 0 && negativeWeight > 0) {
    const n = meanOf(negatives, dimension);
    for (let j = 0; j < dimension; j++) q[j] = (q[j] as number) - negativeWeight * (n[j] as number);
  }
  let norm = 0;
  for (let j = 0; j < dimension; j++) norm += (q[j] as number) ** 2;
  norm = Math.sqrt(norm);
  if (!(norm >= MIN_QUERY_NORM)) throw new DegenerateQueryError(norm);
  return Float32Array.from(q, (v) => v / norm);
}

/**
 * The query's colour for the learned ranking, in the √p space where its colour term is an inner
 * product (Bhattacharyya): mean(√p of the positives) − β·mean(√p of the negatives), over the
 * examples whose histogram is known — the same Rocchio arithmetic as the vector, so a candidate scores
 * its colour similarity to the positives minus β times that to the negatives. Undefined when no
 * positive's colour is known (the colour term then stays neutral).
 */
export function colourQuery(
  positives: readonly (Float32Array | undefined)[],
  negatives: readonly (Float32Array | undefined)[],
  negativeWeight: number,
): Float32Array | undefined {
  const roots = (histograms: readonly (Float32Array | undefined)[]) =>
    histograms
      .filter((h): h is Float32Array => h !== undefined)
      .map((h) => Float32Array.from(h, (p) => Math.sqrt(Math.max(0, p))));
  const pos = roots(positives);
  const first = pos[0];
  if (!first) return undefined;
  const neg = roots(negatives).filter((h) => h.length === first.length);
  if (pos.some((h) => h.length !== first.length)) return undefined;
  const q = meanOf(pos, first.length);
  if (neg.length > 0 && negativeWeight > 0) {
    const n = meanOf(neg, first.length);
    for (let j = 0; j < q.length; j++) q[j] = (q[j] as number) - negativeWeight * (n[j] as number);
  }
  return Float32Array.from(q);
}
