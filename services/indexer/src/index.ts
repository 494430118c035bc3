export { loadConfig, INDEXER_ENV_KEYS, type IndexerConfig } from './config';
export {
  DebouncedPublisher,
  PublisherClosedError,
  type PublisherOptions,
  type SubmitOutcome,
} from './publisher';
export { canonicalJson, contentHash, itemContentHash } from './hash';
export { BlobStore, sourceOf, imageRefOf, loadableRef } from './source-ref';
export { TransientBatchError, ReservedMetadataError, MissingSourceError, classifyFailure } from './errors';
export { processUpsert, type UpsertDeps } from './processors/upsert';
export { processDelete, type DeleteDeps } from './processors/delete';
export { processReindex, type ReindexDeps } from './processors/reindex';
export {
  forEachLimited,
  noCounters,
  type JobContext,
  type ItemCounters,
  type ItemFailure,
  type ProcessOutcome,
} from './processors/common';
export { ThumbnailStore, THUMBNAIL_MAX_SIDE } from './thumbnails';
export { IndexerMetrics, type HealthReport } from './metrics';
export {
  createJobHandler,
  createCatalogueWorker,
  type CatalogueWorkerOptions,
  type JobHandlerOptions,
  type JobHandler,
} from './worker';
export type * from './ports';
