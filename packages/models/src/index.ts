export {
  ModelRegistry,
  modelRegistry,
  UnknownModelError,
  type ModelEntry,
  type Preprocessing,
} from './registry';
export {
  fetchModel,
  verifyModelFile,
  modelSources,
  ModelIntegrityError,
  ModelUnavailableError,
  type FetchModelOptions,
  type FetchedModel,
} from './fetch';
