export {
  ModelRegistry,
  modelRegistry,
  UnknownModelError,
  embeddingModelOf,
  type ModelEntry,
  type EmbeddingModel,
  type Preprocessing,
} from './registry';
export {
  fetchModel,
  fetchModelFiles,
  verifyModelFile,
  modelSources,
  ModelIntegrityError,
  ModelUnavailableError,
  type FetchModelOptions,
  type FetchedModel,
} from './fetch';
