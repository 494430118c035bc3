import { sameModel, type ModelIdentity } from '@lookalike/contracts';
import { ModelMismatchError } from './errors';

// The identity type and its comparison live in @lookalike/contracts; re-exported for the embedder's
// own modules and its public index.
export { sameModel, type ModelIdentity };

/** Cosine similarity in float64. Throws on a length mismatch; 0 when either vector is all zero. */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`cosine: lengths differ (${a.length} vs ${b.length})`);
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  if (normA === 0 || normB === 0) return 0;
  return dot / Math.sqrt(normA * normB);
}

/**
 * A unit-length copy of `vector` (the input is not changed). Throws a RangeError when the norm is zero
 * or not finite: such a vector has no direction, and inner-product search on it would be garbage.
 */
export function l2normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += (vector[i] as number) ** 2;
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm) || norm === 0) throw new RangeError(`l2normalize: norm is ${norm}`);
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = (vector[i] as number) / norm;
  return out;
}

/** Throws ModelMismatchError (MODEL_MISMATCH) unless `actual` was made by the `expected` model. */
export function assertSameModel(expected: ModelIdentity, actual: ModelIdentity): void {
  if (!sameModel(expected, actual)) throw new ModelMismatchError(expected, actual);
}
