import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { prepareModel } from '@lookalike/embedder';
import { fetchModel, modelRegistry, type ModelEntry } from '@lookalike/models';
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
  entry: ModelEntry;
}

/** Decode + resize shorter side + centre crop → normalised NCHW floats. */
export async function bareTensor(image: Buffer, entry: ModelEntry): Promise<Float32Array> {
  const { size } = entry.input;
  const { resizeShorterSide, scale, mean, std } = entry.preprocessing;
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

/** `count` single-threaded sessions of the default model, fetched through the bench's model cache. */
export async function createBareRunner(context: BenchContext, count: number): Promise<BareRunner> {
  const entry = modelRegistry.get(modelRegistry.defaultModel);
  const fetched = await fetchModel(entry, { cacheDir: context.modelCacheDir, mirror: context.modelMirror });
  const prepared = prepareModel(readFileSync(fetched.path), entry);
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
    entry,
  };
}

/** One image through the bare pipeline on `session`; returns the embedding output. */
export async function bareEmbed(
  runner: BareRunner,
  session: ort.InferenceSession,
  image: Buffer,
): Promise<ort.Tensor> {
  const { size } = runner.entry.input;
  const input = new ort.Tensor('float32', await bareTensor(image, runner.entry), [1, 3, size, size]);
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
