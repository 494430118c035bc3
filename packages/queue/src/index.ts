export {
  CATALOGUE_QUEUE,
  CatalogueQueue,
  DEFAULT_JOB_OPTIONS,
  QUEUE_PREFIX_PATTERN,
  type CatalogueQueueOptions,
  type JobCounts,
  type JobState,
  type JobStatus,
} from './catalogue-queue';
export {
  CATALOGUE_JOB_KINDS,
  MAX_DELETE_IDS_PER_JOB,
  MAX_IMAGE_BASE64_LENGTH,
  MAX_ITEMS_PER_JOB,
  MAX_JOB_BASE64_LENGTH,
  catalogueItemSchema,
  catalogueJobSchema,
  deleteJobSchema,
  imageRefSchema,
  imageRefShape,
  itemIdSchema,
  metadataSchema,
  parseCatalogueJob,
  refineExactlyOneImageRef,
  withExactlyOneImageRef,
  reindexJobSchema,
  upsertJobSchema,
  type CatalogueItem,
  type CatalogueItemInput,
  type CatalogueJob,
  type CatalogueJobInput,
  type CatalogueJobKind,
  type DeleteJob,
  type Metadata,
  type ReindexJob,
  type UpsertJob,
} from './schemas';
export {
  ALL_ITEMS_FAILED,
  JOB_RESULT_LISTS,
  JOB_RESULT_MAX_FAILURES,
  JOB_RESULT_MAX_IDS,
  JOB_RESULT_MAX_REASON_LENGTH,
  allItemsFailed,
  buildJobResult,
  emptyJobResult,
  type ItemFailure,
  type JobOutcomeLists,
  type JobResult,
  type JobResultCounts,
  type JobResultList,
  type JobResultTruncation,
} from './job-result';
export {
  AllItemsFailedError,
  InvalidJobError,
  QueueError,
  describeZodIssues,
  formatIssuePath,
  type JobIssue,
  type QueueErrorCode,
} from './errors';
export { closeRedisConnection, createRedisConnection, waitForReady, type RedisRole } from './redis';
export {
  createCatalogueWorker,
  type CatalogueJobHandle,
  type CatalogueProcessor,
  type CatalogueWorker,
  type CatalogueWorkerOptions,
} from './worker';
/** Throw it from a processor to fail a job without further attempts. */
export { UnrecoverableError } from 'bullmq';
export type { ImageRef } from '@lookalike/image-source';
