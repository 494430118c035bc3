import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { EmbedderModelError, prepareModel } from '@lookalike/embedder';
import { modelFile } from './helpers';
import { input, maxAbsDiff, run, sessionOptions } from './onnx-run';

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
