import { Index, MetricType, setThreading } from 'faiss-node';
import { InvalidChangeError } from '../errors';
import { yieldToEventLoop } from '../fsutil';

/**
 * The optional approximate index of a snapshot (`INDEX_FACTORY`): any faiss index_factory description
 * over inner product — "IVF1024,Flat", "HNSW32", "IVF4096,SQ8", … — built by the writer next to the
 * flat shards and saved as one more checksummed file (format/ann-file.ts). Readers that find one search it instead of the
 * flat shards (and do not load those into FAISS); filtered searches over small subsets stay exact.
 * Flat inner product stays the default: without a factory nothing here runs.
 */

/** Search-time parameters faiss::ParameterSpace understands, e.g. { nprobe: 16 } or { efSearch: 64 }. */
export type SearchParameters = Record<string, number>;

export interface AnnSpec {
  /** A faiss index_factory description; the metric is always inner product. */
  factory: string;
  /** Applied after building (and saved in the manifest), so readers search with them by default. */
  parameters: SearchParameters;
}

/** Vectors added per native call while building (a few hundred ms each at d=1280); yields in between. */
const ADD_CHUNK_VECTORS = 4096;
/** Training points per list (faiss's k-means warns below 39 per centroid and samples above 256). */
const TRAIN_POINTS_PER_LIST = 40;
const MIN_TRAIN_POINTS = 10_000;

const FACTORY_SYNTAX = /^[A-Za-z0-9_,.=+-]{1,128}$/;
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * FAISS's own threading defaults oversubscribe a small machine: OpenMP threads each calling into a
 * multi-threaded OpenBLAS made a 20-query search 14× slower on 2 cores, and OpenBLAS's idle threads
 * spin, taking CPU from inference and from other processes. So: one OpenMP and one OpenBLAS thread
 * (queries run concurrently with embeddings, not alone), and BLAS from the first query: a single flat
 * query then runs as a matrix product (OpenBLAS picks AVX2 kernels at run time) instead of faiss's
 * scalar loop (Debian's libfaiss is built for baseline x86-64): about 1.7× faster at 50k, d=1280.
 */
export const FAISS_THREADING = { ompThreads: 1, blasThreshold: 1, blasThreads: 1 } as const;

let threadingApplied = false;
/** Applies FAISS_THREADING once per process (the OpenMP setting is per calling thread: the main one). */
export function applyFaissThreading(): void {
  if (threadingApplied) return;
  threadingApplied = true;
  setThreading(FAISS_THREADING);
}

/** Parses `nprobe=16,efSearch=64` (blank: none); throws an Error naming the bad entry. */
export function parseSearchParameters(text: string | undefined): SearchParameters {
  const parameters: SearchParameters = {};
  for (const entry of (text ?? '').split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const match = /^([^=\s]+)\s*=\s*(\S+)$/.exec(trimmed);
    const value = match ? Number(match[2]) : NaN;
    if (!match || !PARAMETER_NAME.test(match[1] as string) || !Number.isFinite(value))
      throw new Error(`search parameter ${JSON.stringify(trimmed)} is not name=number (e.g. nprobe=16)`);
    parameters[match[1] as string] = value;
  }
  return parameters;
}

/** Builds an empty index from the description; throws InvalidChangeError for one faiss refuses. */
export function emptyAnnIndex(spec: AnnSpec, dimension: number): Index {
  if (typeof spec.factory !== 'string' || !FACTORY_SYNTAX.test(spec.factory))
    throw new InvalidChangeError(
      `index factory ${JSON.stringify(spec.factory)} is not a faiss factory string`,
    );
  let index: Index;
  try {
    index = Index.fromFactory(dimension, spec.factory, MetricType.METRIC_INNER_PRODUCT);
  } catch (err) {
    throw new InvalidChangeError(
      `faiss cannot build ${JSON.stringify(spec.factory)} at d=${dimension}: ${(err as Error).message}`,
    );
  }
  return index;
}

/** Sets each parameter; throws InvalidChangeError for one the index does not have. */
export function applySearchParameters(index: Index, parameters: SearchParameters, factory: string): void {
  for (const [name, value] of Object.entries(parameters)) {
    try {
      index.setParameter(name, value);
    } catch (err) {
      throw new InvalidChangeError(
        `search parameter ${name}=${value} does not apply to ${factory}: ${(err as Error).message}`,
      );
    }
  }
}

/**
 * Checks a spec up front (writers call it when they open, so a typo fails at start, not at the first
 * publish): faiss must build the description and accept every parameter.
 */
export function checkAnnSpec(spec: AnnSpec, dimension: number): void {
  const index = emptyAnnIndex(spec, dimension);
  // IVF parameters are checked against the (untrained) index; faiss accepts nprobe before training.
  applySearchParameters(index, spec.parameters, spec.factory);
}

/** Evenly spaced training sample: enough points per IVF list, all of them for small snapshots. */
function trainingSample(vectors: Float32Array, dimension: number, factory: string): Float32Array {
  const count = vectors.length / dimension;
  const lists = /IVF(\d+)/.exec(factory);
  const wanted = Math.max(MIN_TRAIN_POINTS, lists ? Number(lists[1]) * TRAIN_POINTS_PER_LIST : 0);
  if (count <= wanted) return vectors;
  const sample = new Float32Array(wanted * dimension);
  const step = count / wanted;
  for (let i = 0; i < wanted; i++) {
    const from = Math.floor(i * step) * dimension;
    sample.set(vectors.subarray(from, from + dimension), i * dimension);
  }
  return sample;
}

/**
 * Trains (when the index needs it) and fills the approximate index from the snapshot's vectors, in
 * index order (labels are positions). Vectors go to faiss as Float32Array views, in chunks with the
 * event loop free between them. Throws InvalidChangeError when faiss refuses (e.g. fewer items than
 * IVF lists): the writer then publishes without an approximate index.
 */
export async function buildAnnIndex(vectors: Float32Array, dimension: number, spec: AnnSpec): Promise<Index> {
  applyFaissThreading();
  const index = emptyAnnIndex(spec, dimension);
  const count = vectors.length / dimension;
  try {
    if (!index.isTrained()) {
      index.train(trainingSample(vectors, dimension, spec.factory));
      await yieldToEventLoop();
    }
    for (let first = 0; first < count; first += ADD_CHUNK_VECTORS) {
      index.add(vectors.subarray(first * dimension, Math.min(count, first + ADD_CHUNK_VECTORS) * dimension));
      await yieldToEventLoop();
    }
  } catch (err) {
    if (err instanceof InvalidChangeError) throw err;
    throw new InvalidChangeError(
      `faiss could not build ${spec.factory} over ${count} items: ${(err as Error).message}`,
    );
  }
  applySearchParameters(index, spec.parameters, spec.factory);
  return index;
}
