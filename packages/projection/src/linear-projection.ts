import { createHash } from 'node:crypto';
import type { ModelIdentity } from '@lookalike/contracts';
import { multiplyTransposed } from './blas';

/**
 * What a projection is, as a snapshot's manifest and `/v1/index` describe it. `id` is a digest of the
 * encoded projection, so two snapshots serve the same space exactly when their ids are equal.
 */
export interface ProjectionDescriptor {
  /** How it was fitted, e.g. "pca-whiten"; informational (apply is the same linear map for every kind). */
  kind: string;
  /** First 16 hex digits of the sha256 of `encode()`. */
  id: string;
  /** The model whose raw embeddings it maps; a projection is never applied to another model's vectors. */
  model: ModelIdentity;
  inputDimension: number;
  outputDimension: number;
  /** Items the fit saw. */
  fittedOn: number;
  /** ISO 8601. */
  fittedAt: string;
  /** Power applied to every raw component before centring (sign(x)·|x|^α); 1 = none. */
  inputPower: number;
}

export interface LinearProjectionParts {
  kind: string;
  model: ModelIdentity;
  fittedOn: number;
  fittedAt: string;
  inputPower: number;
  /** inputDimension floats subtracted before the map. */
  mean: Float32Array;
  /** inputDimension × outputDimension floats, row-major (row = input component). */
  weights: Float32Array;
  outputDimension: number;
}

const MAGIC = 'LKPROJ1\n';

/** Batches from this many vectors are projected through BLAS (faiss's BLAS threshold is 20 rows). */
const BLAS_FROM = 32;

/**
 * y = normalise(((x ⊙ power) − mean) · W): the map from the model's raw L2-normalised embedding to the
 * compact vector that is stored and searched. Output vectors are L2-normalised, so inner products of
 * projected vectors are cosines in the learned space.
 */
export class LinearProjection {
  readonly descriptor: ProjectionDescriptor;
  private readonly mean: Float32Array;
  private readonly weights: Float32Array;
  private encoded: Uint8Array | null = null;

  constructor(parts: LinearProjectionParts) {
    const inputDimension = parts.model.dimension;
    if (parts.mean.length !== inputDimension)
      throw new RangeError(`mean holds ${parts.mean.length} floats, expected ${inputDimension}`);
    if (parts.weights.length !== inputDimension * parts.outputDimension)
      throw new RangeError(
        `weights hold ${parts.weights.length} floats, expected ${inputDimension}×${parts.outputDimension}`,
      );
    this.mean = parts.mean;
    this.weights = parts.weights;
    const header = {
      kind: parts.kind,
      model: { id: parts.model.id, sha256: parts.model.sha256, dimension: parts.model.dimension },
      inputDimension,
      outputDimension: parts.outputDimension,
      fittedOn: parts.fittedOn,
      fittedAt: parts.fittedAt,
      inputPower: parts.inputPower,
    };
    this.descriptor = { ...header, id: '' };
    this.descriptor.id = createHash('sha256').update(this.encode()).digest('hex').slice(0, 16);
  }

  get inputDimension(): number {
    return this.descriptor.inputDimension;
  }

  get outputDimension(): number {
    return this.descriptor.outputDimension;
  }

  /**
   * Projects `count` raw vectors (count × inputDimension floats) into count × outputDimension floats.
   * Batches of `BLAS_FROM` vectors or more take the BLAS route (projectMany), smaller ones the plain
   * loop (projectScalar); both give the same vectors to float32 rounding.
   */
  project(raw: Float32Array): Float32Array {
    return raw.length / this.inputDimension >= BLAS_FROM ? this.projectMany(raw) : this.projectScalar(raw);
  }

  /**
   * project() for many vectors: the powered, centred rows (a cheap O(n·d) JS pass; centring before
   * the product, not subtracting mean·W after it, avoids float32 cancellation) times W through
   * faiss's BLAS inner products, one sgemm per block of rows, then normalised. Re-projecting 1M items
   * at 2304 × 256 is ~6e11 multiply-adds: minutes in a JS loop.
   */
  projectMany(raw: Float32Array): Float32Array {
    return this.linear(raw, true);
  }

  /**
   * ((x ⊙ power) − mean) · W without the final normalisation (BLAS route): the whitened coordinates
   * themselves, e.g. to check that they have unit variance on the data the projection was fitted on.
   */
  transform(raw: Float32Array): Float32Array {
    return this.linear(raw, false);
  }

  private linear(raw: Float32Array, normalise: boolean): Float32Array {
    const din = this.inputDimension;
    const dout = this.outputDimension;
    if (raw.length % din !== 0) throw new RangeError(`raw vectors are not a multiple of ${din} floats`);
    const count = raw.length / din;
    const power = this.descriptor.inputPower;
    const weightsT = this.weightsTransposed();
    const out = new Float32Array(count * dout);
    // Blocks of rows: the centred copy and faiss's result buffers stay small for a 1M-item re-projection.
    const block = 4096;
    const input = new Float32Array(Math.min(block, count) * din);
    for (let start = 0; start < count; start += block) {
      const rows = Math.min(block, count - start);
      const offset = start * din;
      for (let r = 0; r < rows; r++) {
        const o = r * din;
        for (let i = 0; i < din; i++) {
          let x = raw[offset + o + i] as number;
          if (power !== 1) x = Math.sign(x) * Math.abs(x) ** power;
          input[o + i] = x - (this.mean[i] as number);
        }
      }
      const product = multiplyTransposed(input.subarray(0, rows * din), weightsT, din);
      for (let r = 0; r < rows; r++) {
        let norm = 0;
        const o = r * dout;
        for (let j = 0; j < dout; j++) norm += (product[o + j] as number) ** 2;
        const scale = !normalise ? 1 : norm > 0 ? 1 / Math.sqrt(norm) : 0;
        for (let j = 0; j < dout; j++) out[(start + r) * dout + j] = (product[o + j] as number) * scale;
      }
    }
    return out;
  }

  private weightsT: Float32Array | null = null;

  /** Wᵀ (outputDimension rows of inputDimension floats), the layout faiss's scan takes, computed once. */
  private weightsTransposed(): Float32Array {
    if (this.weightsT) return this.weightsT;
    const din = this.inputDimension;
    const dout = this.outputDimension;
    const weightsT = new Float32Array(din * dout);
    for (let i = 0; i < din; i++)
      for (let j = 0; j < dout; j++) weightsT[j * din + i] = this.weights[i * dout + j] as number;
    this.weightsT = weightsT;
    return weightsT;
  }

  /** project() as a plain float64 loop: the reference, and faster than BLAS set-up for a few vectors. */
  projectScalar(raw: Float32Array): Float32Array {
    const din = this.inputDimension;
    const dout = this.outputDimension;
    if (raw.length % din !== 0) throw new RangeError(`raw vectors are not a multiple of ${din} floats`);
    const count = raw.length / din;
    const out = new Float32Array(count * dout);
    const row = new Float64Array(dout);
    const power = this.descriptor.inputPower;
    for (let n = 0; n < count; n++) {
      row.fill(0);
      for (let i = 0; i < din; i++) {
        let x = raw[n * din + i] as number;
        if (power !== 1) x = Math.sign(x) * Math.abs(x) ** power;
        const centred = x - (this.mean[i] as number);
        if (centred === 0) continue;
        const w = i * dout;
        for (let j = 0; j < dout; j++)
          row[j] = (row[j] as number) + centred * (this.weights[w + j] as number);
      }
      let norm = 0;
      for (let j = 0; j < dout; j++) norm += (row[j] as number) ** 2;
      const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < dout; j++) out[n * dout + j] = (row[j] as number) * scale;
    }
    return out;
  }

  /** MAGIC, uint32 header length, JSON header, padding to 4 bytes, mean floats, weight floats (LE). */
  encode(): Uint8Array {
    if (this.encoded) return this.encoded;
    const { id: _id, ...header } = this.descriptor;
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const headerEnd = MAGIC.length + 4 + json.length;
    const floatsAt = Math.ceil(headerEnd / 4) * 4;
    const out = Buffer.alloc(floatsAt + (this.mean.length + this.weights.length) * 4);
    out.write(MAGIC, 0, 'latin1');
    out.writeUInt32LE(json.length, MAGIC.length);
    json.copy(out, MAGIC.length + 4);
    Buffer.from(this.mean.buffer, this.mean.byteOffset, this.mean.byteLength).copy(out, floatsAt);
    Buffer.from(this.weights.buffer, this.weights.byteOffset, this.weights.byteLength).copy(
      out,
      floatsAt + this.mean.byteLength,
    );
    this.encoded = new Uint8Array(out.buffer, out.byteOffset, out.length);
    return this.encoded;
  }

  /** The inverse of encode; throws ProjectionFormatError on anything else. */
  static decode(bytes: Uint8Array): LinearProjection {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.length < MAGIC.length + 4 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC)
      throw new ProjectionFormatError('not a lookalike projection file');
    const jsonLength = buf.readUInt32LE(MAGIC.length);
    const headerEnd = MAGIC.length + 4 + jsonLength;
    if (headerEnd > buf.length) throw new ProjectionFormatError('projection header is truncated');
    let header: Omit<ProjectionDescriptor, 'id'>;
    try {
      header = JSON.parse(buf.toString('utf8', MAGIC.length + 4, headerEnd)) as typeof header;
    } catch {
      throw new ProjectionFormatError('projection header is not JSON');
    }
    const din = header.inputDimension;
    const dout = header.outputDimension;
    if (
      !Number.isInteger(din) ||
      !Number.isInteger(dout) ||
      din < 1 ||
      dout < 1 ||
      header.model?.dimension !== din
    )
      throw new ProjectionFormatError('projection dimensions are invalid');
    const floatsAt = Math.ceil(headerEnd / 4) * 4;
    if (buf.length !== floatsAt + (din + din * dout) * 4)
      throw new ProjectionFormatError(
        `projection file is ${buf.length} bytes, expected ${floatsAt + (din + din * dout) * 4}`,
      );
    const floats = new Float32Array(din + din * dout);
    Buffer.from(floats.buffer).set(buf.subarray(floatsAt));
    return new LinearProjection({
      kind: header.kind,
      model: header.model,
      fittedOn: header.fittedOn,
      fittedAt: header.fittedAt,
      inputPower: header.inputPower,
      mean: floats.subarray(0, din),
      weights: floats.subarray(din),
      outputDimension: dout,
    });
  }
}

export class ProjectionFormatError extends Error {
  readonly code = 'PROJECTION_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ProjectionFormatError';
  }
}
