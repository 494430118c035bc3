import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { EmbedderModelError, cosine, prepareModel } from '@lookalike/embedder';
import { modelFile, withUnknownTensor } from './helpers';

const sessionOptions: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
};

/** Deterministic pseudo-random input in the range of normalised ImageNet pixels. */
function input(batch: number, seed: number): Float32Array {
  const data = new Float32Array(batch * 3 * 224 * 224);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = (state / 2 ** 32) * 4 - 2;
  }
  return data;
}

async function run(
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

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

function rows(data: Float32Array, count: number): Float32Array[] {
  const width = data.length / count;
  return Array.from({ length: count }, (_, i) => data.slice(i * width, (i + 1) * width));
}

describe.each([
  ['mobilenetv2-12-int8', 1280, 'GlobalAveragePool(627)'],
  ['shufflenet-v2-12-qdq', 1024, '611'],
])('prepareModel(%s)', (name, dimension, feature) => {
  let original: Uint8Array;
  let originalSession: ort.InferenceSession;
  let entry: Awaited<ReturnType<typeof modelFile>>['entry'];

  beforeAll(async () => {
    const file = await modelFile(name);
    entry = file.entry;
    original = readFileSync(file.path);
    originalSession = await ort.InferenceSession.create(original, sessionOptions);
  });
  afterAll(async () => originalSession.release());

  it('adds a float embedding output and leaves the logits bit-identical', async () => {
    const prepared = prepareModel(original, entry);
    expect(prepared.feature).toContain(feature);
    expect(prepared.batchCapable).toBe(true);
    const session = await ort.InferenceSession.create(prepared.bytes, sessionOptions);
    try {
      expect(session.outputNames).toEqual(expect.arrayContaining(['output', prepared.embeddingOutput]));
      for (const seed of [1, 2, 3]) {
        const data = input(1, seed);
        const before = await run(originalSession, 'input', data, 1, ['output']);
        const after = await run(session, prepared.inputName, data, 1, ['output', prepared.embeddingOutput]);
        expect(maxAbsDiff(after.output as Float32Array, before.output as Float32Array)).toBe(0);
        const embedding = after[prepared.embeddingOutput] as Float32Array;
        expect(embedding.length).toBe(dimension);
        expect(embedding.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
        expect(embedding.some((v) => v > 0)).toBe(true);
      }
    } finally {
      await session.release();
    }
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

describe('prepareModel errors', () => {
  it('refuses bytes that are not ONNX, an unknown tensor and an unknown input', async () => {
    const { entry, path } = await modelFile('mobilenetv2-12-int8');
    const bytes = readFileSync(path);
    expect(() => prepareModel(Buffer.from('definitely not a protobuf model'), entry)).toThrow(
      EmbedderModelError,
    );
    expect(() =>
      prepareModel(bytes, { ...entry, embedding: { ...entry.embedding, tensor: 'no_such_tensor' } }),
    ).toThrow(/no_such_tensor/);
    expect(() => prepareModel(bytes, { ...entry, input: { ...entry.input, name: 'pixels' } })).toThrow(
      /input pixels not found/,
    );
    try {
      prepareModel(bytes, { ...entry, classifierOutput: 'logits' });
      throw new Error('expected a failure');
    } catch (err) {
      expect(err).toBeInstanceOf(EmbedderModelError);
      expect((err as EmbedderModelError).code).toBe('EMBEDDER_MODEL');
    }
  });

  it('leaves the caller’s model bytes untouched', async () => {
    const { entry, path } = await modelFile('shufflenet-v2-12-qdq');
    const bytes = readFileSync(path);
    const copy = Buffer.from(bytes);
    prepareModel(bytes, entry);
    expect(bytes.equals(copy)).toBe(true);
  });
});

describe('automatic feature search fallbacks (synthetic graphs)', () => {
  const floatTensor = (dims: Array<number | string>): onnx.ITypeProto => ({
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  });
  const tinyModel = (nodes: onnx.INodeProto[], outputDims: Array<number | string>): Uint8Array =>
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
