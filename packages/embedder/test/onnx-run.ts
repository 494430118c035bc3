// Running a (prepared) ONNX graph in tests: one small session configuration, deterministic inputs
// and the comparisons the graph tests share.
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';

export const sessionOptions: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
};

/** Deterministic pseudo-random input in the range of normalised ImageNet pixels. */
export function input(batch: number, seed: number): Float32Array {
  const data = new Float32Array(batch * 3 * 224 * 224);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = (state / 2 ** 32) * 4 - 2;
  }
  return data;
}

export async function run(
  session: ort.InferenceSession,
  inputName: string,
  data: Float32Array,
  batch: number,
  fetches: string[],
): Promise<Record<string, Float32Array>> {
  const out = await session.run(
    { [inputName]: new ort.Tensor('float32', data, [batch, 3, 224, 224]) },
    fetches,
  );
  return Object.fromEntries(fetches.map((name) => [name, out[name]?.data as Float32Array]));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

export function rows(data: Float32Array, count: number): Float32Array[] {
  const width = data.length / count;
  return Array.from({ length: count }, (_, i) => data.slice(i * width, (i + 1) * width));
}

const floatTensor = (dims: Array<number | string>): onnx.ITypeProto => ({
  tensorType: {
    elemType: onnx.TensorProto.DataType.FLOAT,
    shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
  },
});

/** A tiny float graph with input `x` [N, 3, 8, 8] and output `y`, for synthetic graph tests. */
export const tinyModel = (nodes: onnx.INodeProto[], outputDims: Array<number | string>): Uint8Array =>
  onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 12 }],
      graph: {
        name: 'tiny',
        node: nodes,
        input: [{ name: 'x', type: floatTensor(['N', 3, 8, 8]) }],
        output: [{ name: 'y', type: floatTensor(outputDims) }],
      },
    }),
  ).finish();
