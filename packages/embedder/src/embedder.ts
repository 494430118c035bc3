import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import sharp from 'sharp';
import type { Logger } from '@lookalike/config';
import { fetchModelFiles, modelRegistry, type EmbeddingModel } from '@lookalike/models';
import { EmbedderBusyError, EmbedderClosedError, EmbedderModelError, ImageError } from './errors';
import { InferencePool } from './inference-pool';
import { colourHistogram } from './colour';
import { prepareEmbeddingModel } from './model-graph';
import { checkCrop, type Crop } from './crop';
import { preprocessImage, type Fit } from './preprocess';
import type { ModelIdentity } from '@lookalike/contracts';

export interface Embedding {
  /** L2-normalised. */
  vector: Float32Array;
  model: ModelIdentity;
  /**
   * Foreground HSV colour histogram of the same preprocessed pixels (L1-normalised, see colour.ts),
   * for colour-aware ranking. Computed here so uploads and catalogue items get identical features.
   */
  colour: Float32Array;
}

/** Per-image options of `embed`. */
export interface EmbedOptions {
  /**
   * Embed only this region (normalised, of the image after EXIF orientation) — the same recipe as
   * the whole image gets, so a crop matches that region saved on its own. Invalid or under
   * MIN_CROP_SIDE pixels per side: CropError (INVALID_CROP).
   */
  crop?: Crop | undefined;
}

export interface EmbedderOptions {
  /** From @lookalike/models (`modelRegistry.resolve(name)`): one model file or an ensemble. */
  embeddingModel: EmbeddingModel;
  /** The verified files from `fetchModelFiles`, one per member; each sha256 is checked again. */
  modelPaths: readonly string[];
  /** Inference sessions, one per worker thread (1 intra-op thread each). Default: available cores. */
  sessions?: number;
  /** Largest accepted input in bytes. Default 20 MiB. */
  maxBytes?: number;
  /** Largest width × height (after EXIF orientation). Default 40,000,000. */
  maxPixels?: number;
  /** Smallest accepted side in pixels. Default 16. */
  minSide?: number;
  /** `crop`: shorter side → registry size, centre crop. `letterbox`: whole image, padded with white. */
  fit?: Fit;
  /** Back-pressure: embeds in flight (decoding, queued or running) before EmbedderBusyError. Default 256. */
  maxQueue?: number;
  /** Images decoded at once on the libuv threadpool. Default: sessions + 1. */
  decodeConcurrency?: number;
  /** Largest micro-batch one session runs. Default 8. */
  maxBatch?: number;
  /** Per-image decode limit (IMAGE_DECODE_TIMEOUT). Default 30 s. */
  decodeTimeoutMs?: number;
  /** Per-batch inference limit; the worker is replaced after it (EMBEDDER_INFERENCE). Default 60 s. */
  inferenceTimeoutMs?: number;
  logger?: Logger;
}

export interface EmbedderStats {
  /** Accepted embeds not yet settled (the number compared with maxQueue). */
  pending: number;
  decoding: number;
  waitingToDecode: number;
  queuedForInference: number;
  inferring: number;
  sessions: number;
  /** Inference batches run; `embedded / batches` is the mean micro-batch size. */
  batches: number;
  embedded: number;
  failed: number;
}

export const EMBEDDER_DEFAULTS = {
  maxBytes: 20 * 1024 * 1024,
  maxPixels: 40_000_000,
  minSide: 16,
  fit: 'crop' as Fit,
  maxQueue: 256,
  maxBatch: 8,
  decodeTimeoutMs: 30_000,
  inferenceTimeoutMs: 60_000,
};

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`EmbedderOptions.${name} must be a positive integer, got ${v}`);
  return v;
}

/** A counting semaphore: decodes beyond the limit wait their turn instead of all hitting libvips at once. */
class Slots {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  get running(): number {
    return this.active;
  }
  get waiting(): number {
    return this.waiters.length;
  }
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }
}

/**
 * The one code path from image bytes to an embedding (indexer and API alike).
 *
 * Pipeline: cheap checks on the bytes → header check and decode/resize with sharp (libuv threadpool,
 * `decodeConcurrency` at once) → a pool of ONNX sessions in worker threads that pull micro-batches of
 * ready images. Decoding of the next images continues while sessions run, and the main thread only
 * orchestrates. Everything accepted counts against `maxQueue`; beyond it embed() fails fast with
 * EmbedderBusyError instead of buffering without bound. A caller that queues its own work (the
 * API's InferenceQueue) hands over at most `decodeConcurrency` images at once, one per session, so
 * they wait in the caller's queue only; the indexer relies on the queueing here.
 */
export class Embedder {
  readonly model: ModelIdentity;
  /** What the embedding tensor is, e.g. `Flatten(GlobalAveragePool(627))`, for logs. */
  readonly feature: string;
  readonly options: Readonly<Required<Omit<EmbedderOptions, 'logger'>>>;

  private pending = 0;
  private embedded = 0;
  private failed = 0;
  private closed = false;
  private drained: (() => void) | null = null;

  private constructor(
    options: Required<Omit<EmbedderOptions, 'logger'>>,
    model: ModelIdentity,
    feature: string,
    private readonly pool: InferencePool,
    private readonly decodeSlots: Slots,
  ) {
    this.options = options;
    this.model = model;
    this.feature = feature;
  }

  static async create(options: EmbedderOptions): Promise<Embedder> {
    const { embeddingModel } = options;
    const sessions = positiveInt('sessions', options.sessions, os.availableParallelism());
    const resolved: Required<Omit<EmbedderOptions, 'logger'>> = {
      embeddingModel,
      modelPaths: options.modelPaths,
      sessions,
      maxBytes: positiveInt('maxBytes', options.maxBytes, EMBEDDER_DEFAULTS.maxBytes),
      maxPixels: positiveInt('maxPixels', options.maxPixels, EMBEDDER_DEFAULTS.maxPixels),
      minSide: positiveInt('minSide', options.minSide, EMBEDDER_DEFAULTS.minSide),
      fit: options.fit ?? EMBEDDER_DEFAULTS.fit,
      maxQueue: positiveInt('maxQueue', options.maxQueue, EMBEDDER_DEFAULTS.maxQueue),
      decodeConcurrency: positiveInt('decodeConcurrency', options.decodeConcurrency, sessions + 1),
      maxBatch: positiveInt('maxBatch', options.maxBatch, EMBEDDER_DEFAULTS.maxBatch),
      decodeTimeoutMs: positiveInt(
        'decodeTimeoutMs',
        options.decodeTimeoutMs,
        EMBEDDER_DEFAULTS.decodeTimeoutMs,
      ),
      inferenceTimeoutMs: positiveInt(
        'inferenceTimeoutMs',
        options.inferenceTimeoutMs,
        EMBEDDER_DEFAULTS.inferenceTimeoutMs,
      ),
    };
    if (resolved.fit !== 'crop' && resolved.fit !== 'letterbox') {
      throw new RangeError(`EmbedderOptions.fit must be 'crop' or 'letterbox', got ${String(resolved.fit)}`);
    }

    if (options.modelPaths.length !== embeddingModel.members.length) {
      throw new EmbedderModelError(
        `${embeddingModel.name} has ${embeddingModel.members.length} model files, got ${options.modelPaths.length} paths`,
      );
    }
    const files: Buffer[] = [];
    for (const [i, { entry }] of embeddingModel.members.entries()) {
      const modelPath = options.modelPaths[i] as string;
      let file: Buffer;
      try {
        file = await readFile(modelPath);
      } catch (err) {
        throw new EmbedderModelError(`Cannot read model file ${modelPath}`, { cause: err });
      }
      // The identity stamped on every vector must be true, so the bytes are checked here too.
      const sha256 = createHash('sha256').update(file).digest('hex');
      if (sha256 !== entry.sha256) {
        throw new EmbedderModelError(
          `${modelPath} is not ${entry.name}: sha256 ${sha256}, expected ${entry.sha256}`,
        );
      }
      if (entry.preprocessing.crop !== entry.input.size) {
        throw new EmbedderModelError(
          `${entry.name}: preprocessing.crop (${entry.preprocessing.crop}) must equal input.size (${entry.input.size})`,
        );
      }
      files.push(file);
    }
    const prepared = prepareEmbeddingModel(embeddingModel, files);
    const { preprocessing } = embeddingModel;
    const logger = options.logger;

    // One-shot buffers never repeat, so libvips' operation cache only holds memory.
    sharp.cache(false);

    const pool = await InferencePool.start({
      sessions,
      maxBatch: prepared.batchCapable ? resolved.maxBatch : 1,
      dimension: embeddingModel.dimension,
      inferenceTimeoutMs: resolved.inferenceTimeoutMs,
      init: {
        modelBytes: prepared.bytes,
        inputName: prepared.inputName,
        outputName: prepared.embeddingOutput,
        size: embeddingModel.inputSize,
        scale: preprocessing.scale,
        mean: preprocessing.mean,
        std: preprocessing.std,
        intraOpThreads: 1,
      },
      onEvent: (event, details) => logger?.warn({ event, ...details }, `embedder: ${event}`),
    });
    const model: ModelIdentity = Object.freeze({
      id: embeddingModel.name,
      sha256: embeddingModel.sha256,
      dimension: embeddingModel.dimension,
    });
    logger?.info(
      { model: model.id, feature: prepared.feature, sessions, fit: resolved.fit },
      'embedder ready',
    );
    return new Embedder(resolved, model, prepared.feature, pool, new Slots(resolved.decodeConcurrency));
  }

  /**
   * Embeds one image. Rejects with ImageError (IMAGE_EMPTY, IMAGE_TOO_LARGE, IMAGE_UNSUPPORTED,
   * IMAGE_CORRUPT, IMAGE_TOO_MANY_PIXELS, IMAGE_TOO_SMALL, IMAGE_DECODE_TIMEOUT), CropError
   * (INVALID_CROP) for a crop that cannot be applied to it, EmbedderBusyError
   * when `maxQueue` embeds are already pending, EmbedderClosedError after close(), or
   * EmbedderInferenceError when a session fails.
   */
  async embed(image: Uint8Array, options: EmbedOptions = {}): Promise<Embedding> {
    if (this.closed) throw new EmbedderClosedError();
    // Out-of-range crops are refused before the bytes are looked at; the pixel size once decoded.
    if (options.crop) checkCrop(options.crop);
    if (!(image instanceof Uint8Array)) {
      throw new ImageError(
        'IMAGE_UNSUPPORTED',
        `Expected image bytes (Uint8Array/Buffer), got ${typeof image}`,
      );
    }
    if (image.byteLength === 0) throw new ImageError('IMAGE_EMPTY', 'Image is empty (0 bytes)');
    if (image.byteLength > this.options.maxBytes) {
      throw new ImageError(
        'IMAGE_TOO_LARGE',
        `Image is ${image.byteLength} bytes; the limit is ${this.options.maxBytes}`,
        {
          details: { bytes: image.byteLength, maxBytes: this.options.maxBytes },
        },
      );
    }
    if (this.pending >= this.options.maxQueue)
      throw new EmbedderBusyError(this.pending, this.options.maxQueue);
    this.pending++;
    try {
      await this.decodeSlots.acquire();
      let pixels: Uint8Array;
      try {
        ({ pixels } = await preprocessImage(image, {
          size: this.options.embeddingModel.preprocessing.crop,
          resizeShorterSide: this.options.embeddingModel.preprocessing.resizeShorterSide,
          fit: this.options.fit,
          maxPixels: this.options.maxPixels,
          minSide: this.options.minSide,
          timeoutSeconds: this.options.decodeTimeoutMs / 1000,
          crop: options.crop,
        }));
      } finally {
        this.decodeSlots.release();
      }
      const size = this.options.embeddingModel.preprocessing.crop;
      const colour = colourHistogram(pixels, size, size);
      const vector = await this.pool.run(pixels);
      this.embedded++;
      return { vector, model: this.model, colour };
    } catch (err) {
      this.failed++;
      throw err;
    } finally {
      this.pending--;
      if (this.pending === 0) this.drained?.();
    }
  }

  stats(): EmbedderStats {
    return {
      pending: this.pending,
      decoding: this.decodeSlots.running,
      waitingToDecode: this.decodeSlots.waiting,
      queuedForInference: this.pool.queued,
      inferring: this.pool.inferring,
      sessions: this.pool.sessions,
      batches: this.pool.batches,
      embedded: this.embedded,
      failed: this.failed,
    };
  }

  /**
   * Refuses new work, lets accepted embeds finish (at most `graceMs`), then stops the sessions;
   * anything still unfinished rejects with EmbedderClosedError.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pending > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.drained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    await this.pool.close();
  }
}

/** Fetches (or finds in the cache) the files of registry model `opts.model` (a model or an ensemble), verifies them and starts an Embedder. */
export async function createEmbedder(
  opts: { model: string; cacheDir: string; mirror?: string } & Partial<EmbedderOptions>,
): Promise<Embedder> {
  const { model, cacheDir, mirror, ...rest } = opts;
  const embeddingModel = rest.embeddingModel ?? modelRegistry.resolve(model);
  const fetched = await fetchModelFiles(embeddingModel, {
    cacheDir,
    mirror,
    log: (message) => rest.logger?.info(message),
  });
  return Embedder.create({ ...rest, embeddingModel, modelPaths: fetched.map((f) => f.path) });
}
