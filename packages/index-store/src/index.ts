export type {
  ModelIdentity,
  Metadata,
  ItemInput,
  StoredItem,
  Filter,
  SearchOptions,
  SearchHit,
  SearchRequest,
  SearchOutcome,
  Snapshot,
  SnapshotChange,
  PublishResult,
  PublishStep,
} from './types';
export { PUBLISH_STEPS } from './types';
export {
  ItemNotFoundError,
  InvalidQueryError,
  InvalidChangeError,
  StaleWriterError,
  WriterLockTimeoutError,
  SnapshotCorruptError,
  ModelMismatchError,
  SnapshotNotFoundError,
  StoreClosedError,
} from './errors';
export { SnapshotWriter, type SnapshotWriterOptions } from './writer';
export { SnapshotReader, type SnapshotReaderOptions, type ReaderStatus } from './reader';
export { MAX_K, FIELD_VALUES_CAP } from './snapshot';
export {
  parseSearchParameters,
  checkAnnSpec,
  FAISS_THREADING,
  applyFaissThreading,
  type SearchParameters,
  type AnnSpec,
} from './ann';
