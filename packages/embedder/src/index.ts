export {
  Embedder,
  createEmbedder,
  EMBEDDER_DEFAULTS,
  type Embedding,
  type EmbedOptions,
  type EmbedderOptions,
  type EmbedderStats,
} from './embedder';
export {
  ImageError,
  EmbedderBusyError,
  EmbedderClosedError,
  EmbedderModelError,
  EmbedderInferenceError,
  ModelMismatchError,
  type ImageErrorCode,
} from './errors';
export { cosine, l2normalize, sameModel, assertSameModel } from './vector';
export type { ModelIdentity } from '@lookalike/contracts';
export {
  prepareModel,
  prepareEmbeddingModel,
  joinPreparedModels,
  type PreparedModel,
  type EnsemblePart,
} from './model-graph';
export { SUPPORTED_FORMATS, type ImageFormat, type Fit } from './preprocess';
export { CropError, MIN_CROP_SIDE, checkCrop, cropBox, type Crop, type PixelBox } from './crop';
export {
  colourHistogram,
  histogramLength,
  COLOUR_DEFAULTS,
  COLOUR_HISTOGRAM_LENGTH,
  type ColourHistogramOptions,
} from './colour';
