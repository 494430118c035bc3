import { knnInnerProduct } from 'faiss-node';

/**
 * A · Bᵀ for row-major A (m × k) and B (n × k), through faiss's BLAS-backed exact inner-product scan
 * (sgemm beyond faiss's BLAS threshold of 20 rows): every row of A against all n rows of B, with
 * k = n, then put back into column order by the returned labels (faiss returns them best first).
 * Float32 throughout; plain JS would need m·n·k multiply-adds one at a time (6e11 for 1M × 2304 × 256).
 */
export function multiplyTransposed(a: Float32Array, b: Float32Array, k: number): Float32Array {
  const m = a.length / k;
  const n = b.length / k;
  if (!Number.isInteger(m) || !Number.isInteger(n))
    throw new RangeError(`arrays are not rows of ${k} floats`);
  const out = new Float32Array(m * n);
  if (m === 0 || n === 0) return out;
  // One call per block of rows bounds the distances + labels faiss allocates to ~64 MiB.
  const block = Math.max(1, Math.floor((8 * 1024 * 1024) / n));
  for (let start = 0; start < m; start += block) {
    const rows = Math.min(block, m - start);
    const { distances, labels } = knnInnerProduct(a.subarray(start * k, (start + rows) * k), b, k, n);
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      const target = (start + r) * n;
      for (let j = 0; j < n; j++) out[target + (labels[base + j] as number)] = distances[base + j] as number;
    }
  }
  return out;
}

/** Row-major transpose of an m × n matrix. */
export function transpose(a: Float32Array, m: number, n: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) out[j * m + i] = a[row + j] as number;
  }
  return out;
}
