import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { cosine, prepareModel } from '@lookalike/embedder';
import { modelFile, withUnknownTensor } from './helpers';
import { input, run, sessionOptions, tinyModel } from './onnx-run';

describe.each([
  ['mobilenetv2-12-int8', 1280, 'GlobalAveragePool(627)'],
  ['shufflenet-v2-12-qdq', 1024, '611'],
])('findPooledFeature(%s)', (name, dimension, feature) => {
  let original: Uint8Array;
  let entry: Awaited<ReturnType<typeof modelFile>>['entry'];

  beforeAll(async () => {
    const file = await modelFile(name);
    entry = file.entry;
    original = readFileSync(file.path);
  });

  it('finds an equivalent pooled feature automatically when the registry names no tensor', async () => {
    const named = prepareModel(original, entry);
    const found = prepareModel(original, withUnknownTensor(entry));
    expect(found.feature).toContain(feature);
    expect(found.feature).toMatch(/input of (QLinearMatMul|MatMul)/);
    const [a, b] = await Promise.all([
      ort.InferenceSession.create(named.bytes, sessionOptions),
      ort.InferenceSession.create(found.bytes, sessionOptions),
    ]);
    try {
      const data = input(1, 7);
      const x = (await run(a, named.inputName, data, 1, [named.embeddingOutput]))[
        named.embeddingOutput
      ] as Float32Array;
      const y = (await run(b, found.inputName, data, 1, [found.embeddingOutput]))[
        found.embeddingOutput
      ] as Float32Array;
      expect(y.length).toBe(dimension);
      expect(cosine(x, y)).toBeGreaterThanOrEqual(0.99999);
    } finally {
      await Promise.all([a.release(), b.release()]);
    }
  });
});

describe('automatic feature search fallbacks (synthetic graphs)', () => {
  it('uses the last global average pool when no Gemm/MatMul classifier is found', async () => {
    const { entry } = await modelFile('mobilenetv2-12-int8');
    const tinyEntry = {
      ...withUnknownTensor(entry),
      input: { ...entry.input, name: 'x', size: 8 },
      classifierOutput: 'y',
    };
    const bytes = tinyModel(
      [
        { name: 'gap', opType: 'GlobalAveragePool', input: ['x'], output: ['pooled'] },
        { name: 'relu', opType: 'Relu', input: ['pooled'], output: ['y'] },
      ],
      ['N', 3, 1, 1],
    );
    const prepared = prepareModel(bytes, tinyEntry);
    expect(prepared.feature).toContain('last global pool');
    expect(prepared.featureTensor).toBe('pooled');
    const session = await ort.InferenceSession.create(prepared.bytes, sessionOptions);
    try {
      const data = new Float32Array(2 * 3 * 64).map((_, i) => Math.floor(i / 64) + 1); // channel means 1..6
      const out = await session.run({ x: new ort.Tensor('float32', data, [2, 3, 8, 8]) }, [
        prepared.embeddingOutput,
      ]);
      expect(out[prepared.embeddingOutput]?.dims).toEqual([2, 3]);
      expect(Array.from(out[prepared.embeddingOutput]?.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      await session.release();
    }
  });

  it('says so when the graph has no pooled feature at all', async () => {
    const { entry } = await modelFile('mobilenetv2-12-int8');
    const bytes = tinyModel([{ name: 'relu', opType: 'Relu', input: ['x'], output: ['y'] }], ['N', 3, 8, 8]);
    expect(() =>
      prepareModel(bytes, {
        ...withUnknownTensor(entry),
        input: { ...entry.input, name: 'x' },
        classifierOutput: 'y',
      }),
    ).toThrow(/No pooled feature found/);
  });
});
