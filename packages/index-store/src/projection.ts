import { knnInnerProduct } from 'faiss-node';
import type { LinearProjection } from '@lookalike/projection';
import { yieldToEventLoop } from './fsutil';
import { applyFaissThreading } from './query/ann';

/** Rows projected per native call (4096 × d=2304 floats: 38 MB in, a few hundred ms of BLAS). */
const PROJECT_CHUNK_ROWS = 4096;

interface ProjectionFloats {
  mean: Float32Array;
  /** outputDimension rows of inputDimension floats: W transposed, so each output is one inner product. */
  weightsT: Float32Array;
  power: number;
}

const floatsCache = new WeakMap<LinearProjection, ProjectionFloats>();

/**
 * The mean and weights of a projection, read back from its encoding (LinearProjection keeps them
 * private): MAGIC (8 bytes), uint32 header length, JSON header, padding to 4 bytes, mean, weights.
 * Belongs in @lookalike/projection (see the report); kept here until it has a bulk apply.
 */
function floatsOf(projection: LinearProjection): ProjectionFloats {
  const cached = floatsCache.get(projection);
  if (cached) return cached;
  const encoded = projection.encode();
  const buf = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const headerEnd = 8 + 4 + buf.readUInt32LE(8);
  const floatsAt = Math.ceil(headerEnd / 4) * 4;
  const din = projection.inputDimension;
  const dout = projection.outputDimension;
  const floats = new Float32Array(din + din * dout);
  Buffer.from(floats.buffer).set(buf.subarray(floatsAt, floatsAt + floats.byteLength));
  const weights = floats.subarray(din);
  const weightsT = new Float32Array(din * dout);
  for (let i = 0; i < din; i++)
    for (let j = 0; j < dout; j++) weightsT[j * din + i] = weights[i * dout + j] as number;
  const result = { mean: floats.subarray(0, din), weightsT, power: projection.descriptor.inputPower };
  floatsCache.set(projection, result);
  return result;
}

/**
 * `projection.project(raw)` for many rows at once, through BLAS: faiss-node's knnInnerProduct (this
 * repo's patch) with k = outputDimension returns every inner product of each centred row with each
 * column of W, sorted; they are put back in column order and L2-normalised. LinearProjection.project
 * (a JS triple loop) takes ~2 minutes for 200k × 2304 → 256; this takes seconds. Results equal
 * project()'s to float32 rounding (it sums in float64). Yields between chunks.
 */
export async function projectMany(projection: LinearProjection, raw: Float32Array): Promise<Float32Array> {
  applyFaissThreading();
  const din = projection.inputDimension;
  const dout = projection.outputDimension;
  if (raw.length % din !== 0) throw new RangeError(`raw vectors are not a multiple of ${din} floats`);
  const count = raw.length / din;
  const out = new Float32Array(count * dout);
  const { mean, weightsT, power } = floatsOf(projection);
  const centred = new Float32Array(Math.min(count, PROJECT_CHUNK_ROWS) * din);
  for (let first = 0; first < count; first += PROJECT_CHUNK_ROWS) {
    const rows = Math.min(PROJECT_CHUNK_ROWS, count - first);
    const chunk = centred.subarray(0, rows * din);
    for (let r = 0; r < rows; r++) {
      const from = (first + r) * din;
      const to = r * din;
      for (let i = 0; i < din; i++) {
        let x = raw[from + i] as number;
        if (power !== 1) x = Math.sign(x) * Math.abs(x) ** power;
        chunk[to + i] = x - (mean[i] as number);
      }
    }
    const { distances, labels } = knnInnerProduct(chunk, weightsT, din, dout);
    for (let r = 0; r < rows; r++) {
      const base = (first + r) * dout;
      let norm = 0;
      for (let j = 0; j < dout; j++) {
        const value = distances[r * dout + j] as number;
        out[base + (labels[r * dout + j] as number)] = value;
        norm += value * value;
      }
      const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < dout; j++) out[base + j] = (out[base + j] as number) * scale;
    }
    await yieldToEventLoop();
  }
  return out;
}
