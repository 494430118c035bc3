import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { cosine, prepareModel } from '@lookalike/embedder';
import { batchDimOf, BATCH_DIM, patchBatch } from '../src/batch-dimension';
import { indexGraph } from '../src/onnx-graph';
import { modelFile } from './helpers';
import { input, maxAbsDiff, rows, run, sessionOptions } from './onnx-run';

describe.each([['mobilenetv2-12-int8'], ['shufflenet-v2-12-qdq']])('batch dimension (%s)', (name) => {
  let original: Uint8Array;
  let entry: Awaited<ReturnType<typeof modelFile>>['entry'];

  beforeAll(async () => {
    const file = await modelFile(name);
    entry = file.entry;
    original = readFileSync(file.path);
  });

  it('runs a batch of 4 exactly like 4 single runs', async () => {
    const prepared = prepareModel(original, entry);
    const session = await ort.InferenceSession.create(prepared.bytes, sessionOptions);
    try {
      const data = input(4, 11);
      const out = await run(session, prepared.inputName, data, 4, ['output', prepared.embeddingOutput]);
      const embeddings = rows(out[prepared.embeddingOutput] as Float32Array, 4);
      const logits = rows(out.output as Float32Array, 4);
      for (let i = 0; i < 4; i++) {
        const single = await run(
          session,
          prepared.inputName,
          data.slice(i * 3 * 224 * 224, (i + 1) * 3 * 224 * 224),
          1,
          ['output', prepared.embeddingOutput],
        );
        expect(
          cosine(embeddings[i] as Float32Array, single[prepared.embeddingOutput] as Float32Array),
        ).toBeGreaterThanOrEqual(0.99999);
        expect(maxAbsDiff(logits[i] as Float32Array, single.output as Float32Array)).toBeLessThan(1e-3);
      }
    } finally {
      await session.release();
    }
  });
});

describe('patchBatch (synthetic graph)', () => {
  it('turns a leading reshape dim of 1 into "copy from input" and makes the batch dim symbolic', () => {
    const fixed = (dims: number[]): onnx.ITypeProto => ({
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => ({ dimValue: d })) },
      },
    });
    const graph: onnx.IGraphProto = {
      node: [{ name: 'reshape', opType: 'Reshape', input: ['x', 'shape'], output: ['y'] }],
      initializer: [
        { name: 'shape', dataType: onnx.TensorProto.DataType.INT64, dims: [2], int64Data: [1, 12] },
      ],
      input: [{ name: 'x', type: fixed([1, 3, 2, 2]) }],
      output: [{ name: 'y', type: fixed([1, 12]) }],
    };
    expect(batchDimOf(graph.input?.[0] as onnx.IValueInfoProto)).toBe(1);
    expect(patchBatch(graph, indexGraph(graph))).toBe(1);
    expect(graph.initializer?.[0]?.int64Data).toEqual([0, 12]);
    expect(batchDimOf(graph.input?.[0] as onnx.IValueInfoProto)).toBe(BATCH_DIM);
    expect(graph.output?.[0]?.type?.tensorType?.shape?.dim?.[0]?.dimParam).toBe(BATCH_DIM);
    expect(batchDimOf({ name: 'unstated' })).toBe(BATCH_DIM);
  });
});
