/**
 * Source of the inference worker thread, run with `new Worker(source, { eval: true })`.
 *
 * Why a string: onnxruntime-node runs `session.run` synchronously on the calling thread, so a pool
 * of sessions only runs in parallel (and the event loop of the API stays free) when each session
 * lives in its own worker thread. An eval'd source works the same from the TypeScript sources under
 * jest and from the compiled dist/, without a separate build step for a worker file.
 *
 * Protocol (all messages are plain objects; pixel and vector buffers are transferred, not copied):
 *   workerData: WorkerInit (below)
 *   worker → main  { type: 'ready', probeDims: number[] } | { type: 'init-failed', message }
 *   main → worker  { type: 'run', id, count, pixels: ArrayBuffer }   // count × size × size × 3 RGB bytes
 *   worker → main  { type: 'result', id, count, dimension, vectors: ArrayBuffer, invalid: number[] }
 *                | { type: 'failed', id, message }
 * `vectors` are already L2-normalised; `invalid` lists batch rows whose raw output was not finite or
 * all zero (no direction, so no vector is returned for them).
 */
export interface WorkerInit {
  ortPath: string;
  modelBytes: Uint8Array;
  inputName: string;
  outputName: string;
  size: number;
  scale: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** Rows in the probe run made at start-up (2 when the graph is batch-capable, else 1). */
  probeBatch: number;
  intraOpThreads: number;
}

export type WorkerReply =
  | { type: 'ready'; probeDims: number[] }
  | { type: 'init-failed'; message: string }
  | { type: 'result'; id: number; count: number; dimension: number; vectors: ArrayBuffer; invalid: number[] }
  | { type: 'failed'; id: number; message: string };

export interface WorkerRun {
  type: 'run';
  id: number;
  count: number;
  pixels: ArrayBuffer;
}

export const INFERENCE_WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const { size, scale, mean, std, inputName, outputName } = workerData;
const plane = size * size;
// Per-channel lookup: byte value -> normalised float, so the NCHW conversion is one table read per value.
const lut = [0, 1, 2].map((c) => {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = (v / scale - mean[c]) / std[c];
  return table;
});
const [lutR, lutG, lutB] = lut;

function toNCHW(pixels, count) {
  const input = new Float32Array(count * 3 * plane);
  for (let b = 0; b < count; b++) {
    const src = b * plane * 3;
    const dst = b * 3 * plane;
    for (let i = 0; i < plane; i++) {
      const s = src + i * 3;
      input[dst + i] = lutR[pixels[s]];
      input[dst + plane + i] = lutG[pixels[s + 1]];
      input[dst + 2 * plane + i] = lutB[pixels[s + 2]];
    }
  }
  return input;
}

function errorText(err) {
  return err && err.message ? String(err.message) : String(err);
}

let session = null;

async function runBatch(pixels, count) {
  const input = new ort.Tensor('float32', toNCHW(pixels, count), [count, 3, size, size]);
  const outputs = await session.run({ [inputName]: input }, [outputName]);
  const tensor = outputs[outputName];
  const data = tensor.data;
  const dims = tensor.dims.slice();
  if (typeof tensor.dispose === 'function') tensor.dispose();
  return { data, dims };
}

parentPort.on('message', async (msg) => {
  if (!msg || msg.type !== 'run') return;
  try {
    const { data } = await runBatch(new Uint8Array(msg.pixels), msg.count);
    const dimension = data.length / msg.count;
    const vectors = new Float32Array(data.length);
    const invalid = [];
    for (let b = 0; b < msg.count; b++) {
      const start = b * dimension;
      let sum = 0;
      for (let i = start; i < start + dimension; i++) sum += data[i] * data[i];
      const norm = Math.sqrt(sum);
      if (!Number.isFinite(norm) || norm === 0) {
        invalid.push(b);
        continue;
      }
      for (let i = start; i < start + dimension; i++) vectors[i] = data[i] / norm;
    }
    parentPort.postMessage(
      { type: 'result', id: msg.id, count: msg.count, dimension, vectors: vectors.buffer, invalid },
      [vectors.buffer],
    );
  } catch (err) {
    parentPort.postMessage({ type: 'failed', id: msg.id, message: errorText(err) });
  }
});

(async () => {
  session = await ort.InferenceSession.create(workerData.modelBytes, {
    intraOpNumThreads: workerData.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  // Probe with mid-grey pixels: proves the graph runs and reports the embedding shape.
  const probe = new Uint8Array(workerData.probeBatch * plane * 3).fill(128);
  const { dims } = await runBatch(probe, workerData.probeBatch);
  parentPort.postMessage({ type: 'ready', probeDims: dims });
})().catch((err) => parentPort.postMessage({ type: 'init-failed', message: errorText(err) }));
`;
