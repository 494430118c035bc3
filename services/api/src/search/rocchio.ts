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

/** β when a request does not say: measured on the sample catalogue (README, Recommend). */
export const DEFAULT_NEGATIVE_WEIGHT = 0.5;

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
 * The query's colour histogram for the learned ranking's colour term: the mean of the positives'
 * histograms that are known (each L1-normalised, so the mean is too), or undefined when none is.
 * Negatives are not subtracted: a histogram has no negative mass, and "less red" is already in q.
 */
export function meanColour(colours: readonly (Float32Array | undefined)[]): Float32Array | undefined {
  const known = colours.filter((c): c is Float32Array => c !== undefined);
  const first = known[0];
  if (!first || known.some((c) => c.length !== first.length)) return undefined;
  const mean = meanOf(known, first.length);
  return Float32Array.from(mean);
}
