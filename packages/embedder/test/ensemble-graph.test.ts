import * as ort from 'onnxruntime-node';
import { joinPreparedModels, prepareModel, EmbedderModelError } from '@lookalike/embedder';
import { modelFile, withUnknownTensor } from './helpers';
import { sessionOptions, tinyModel } from './onnx-run';

describe('joinPreparedModels (synthetic graphs)', () => {
  it('runs every member on the same input and concatenates the weighted, L2-normalised embeddings', async () => {
    const { entry } = await modelFile('mobilenetv2-12-int8');
    const tinyEntry = {
      ...withUnknownTensor(entry),
      input: { ...entry.input, name: 'x', size: 8 },
      classifierOutput: 'y',
    };
    const pooled = tinyModel(
      [
        { name: 'gap', opType: 'GlobalAveragePool', input: ['x'], output: ['pooled'] },
        { name: 'relu', opType: 'Relu', input: ['pooled'], output: ['y'] },
      ],
      ['N', 3, 1, 1],
    );
    const a = prepareModel(pooled, tinyEntry);
    const b = prepareModel(pooled, tinyEntry);
    const joined = joinPreparedModels([
      { name: 'a', prepared: a, weight: 1 },
      { name: 'b', prepared: b, weight: 0.5 },
    ]);
    expect(joined.inputName).toBe('x');
    expect(joined.classifierOutput).toBe('y');
    expect(joined.feature).toMatch(/^Concat\(1·L2\(a: .*\), 0\.5·L2\(b: .*\)\)$/);
    const session = await ort.InferenceSession.create(joined.bytes, sessionOptions);
    try {
      const data = new Float32Array(3 * 64).map((_, i) => [3, 0, 4][Math.floor(i / 64)] as number);
      const out = await session.run({ x: new ort.Tensor('float32', data, [1, 3, 8, 8]) }, [
        joined.embeddingOutput,
      ]);
      expect(out[joined.embeddingOutput]?.dims).toEqual([1, 6]);
      const values = Array.from(out[joined.embeddingOutput]?.data as Float32Array);
      const expected = [0.6, 0, 0.8, 0.3, 0, 0.4];
      values.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 6));
    } finally {
      await session.release();
    }
  });

  it('needs at least one member', () => {
    expect(() => joinPreparedModels([])).toThrow(EmbedderModelError);
  });
});
