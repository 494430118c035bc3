import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { prepareEmbeddingModel } from '@lookalike/embedder';
import { fetchModelFiles, modelRegistry, type EmbeddingModel } from '@lookalike/models';
import type { BenchContext } from './types';

/**
 * The bare lower bound the embedder, indexer and HTTP suites compare against: what any CNN pipeline
 * does (sharp decode + resize shorter side + centre crop → normalised NCHW floats → session.run), with
 * none of the product's validation, queueing or colour features. One copy, so every suite measures the
 * same baseline.
 */

/** Bare ONNX sessions on the default model, one per concurrent loop. */
export interface BareRunner {
  sessions: ort.InferenceSession[];
  inputName: string;
  outputName: string;
  model: EmbeddingModel;
}

/** Decode + resize shorter side + centre crop → normalised NCHW floats. */
export async function bareTensor(image: Buffer, model: EmbeddingModel): Promise<Float32Array> {
  const size = model.inputSize;
  const { resizeShorterSide, scale, mean, std } = model.preprocessing;
  const { data, info } = await sharp(image)
    .resize(resizeShorterSide, resizeShorterSide, { fit: 'outside', kernel: 'linear' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const left = (info.width - size) >> 1;
  const top = (info.height - size) >> 1;
  const plane = size * size;
  const tensor = new Float32Array(3 * plane);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const s = ((top + y) * info.width + left + x) * info.channels;
      const d = y * size + x;
      for (let c = 0; c < 3; c++)
        tensor[c * plane + d] = ((data[s + c] as number) / scale - mean[c]!) / std[c]!;
    }
  }
  return tensor;
}

/**
 * `count` single-threaded sessions of the default model, fetched through the bench's model cache. An
 * ensemble runs as the one joined graph the embedder runs: the same networks, none of the pipeline.
 */
export async function createBareRunner(context: BenchContext, count: number): Promise<BareRunner> {
  const model = modelRegistry.resolve(modelRegistry.defaultModel);
  const files = await fetchModelFiles(model, {
    cacheDir: context.modelCacheDir,
    mirror: context.modelMirror,
  });
  const prepared = prepareEmbeddingModel(
    model,
    files.map((file) => readFileSync(file.path)),
  );
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  return {
    sessions: await Promise.all(
      Array.from({ length: count }, () => ort.InferenceSession.create(prepared.bytes, options)),
    ),
    inputName: prepared.inputName,
    outputName: prepared.embeddingOutput,
    model,
  };
}

/** One image through the bare pipeline on `session`; returns the embedding output. */
export async function bareEmbed(
  runner: BareRunner,
  session: ort.InferenceSession,
  image: Buffer,
): Promise<ort.Tensor> {
  const size = runner.model.inputSize;
  const input = new ort.Tensor('float32', await bareTensor(image, runner.model), [1, 3, size, size]);
  const output = await session.run({ [runner.inputName]: input }, [runner.outputName]);
  return output[runner.outputName] as ort.Tensor;
}

/** All images, one async loop per bare session; returns images/s. */
export async function bareRound(runner: BareRunner, images: Buffer[]): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    runner.sessions.map(async (session) => {
      while (next < images.length) await bareEmbed(runner, session, images[next++] as Buffer);
    }),
  );
  return (images.length / (performance.now() - started)) * 1000;
}

export async function releaseBareRunner(runner: BareRunner): Promise<void> {
  await Promise.all(runner.sessions.map((session) => session.release()));
}
