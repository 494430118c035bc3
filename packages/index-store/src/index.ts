// The public surface of @lookalike/index-store. Rooms: format/ (the on-disk layout and one codec per
// file kind), publish/ (the writer's transaction, applying changes, GC, the lock), query/ (the
// in-memory snapshot and its search), read/ (loading and following published snapshots).
export { MAX_K } from '@lookalike/contracts';
export { FIELD_VALUES_CAP } from '@lookalike/filter';
export type {
  ModelIdentity,
  Metadata,
  ItemInput,
  StoredItem,
  Filter,
  FieldFacet,
  SearchOptions,
  SearchHit,
  SearchRequest,
  SearchOutcome,
  Snapshot,
  SnapshotChange,
  PublishResult,
  PublishStep,
  ProjectionDescriptor,
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
  ProjectionModelMismatchError,
  ProjectionConflictError,
} from './errors';
export { SnapshotWriter } from './publish/snapshot-writer';
export type { SnapshotWriterOptions } from './publish/writer-options';
export type { RawVectors, RawVectorsOptions } from './publish/raw-vectors';
export { SnapshotReader, type SnapshotReaderOptions, type ReaderStatus } from './read/reader';
export { readPointer, switchPointer, type Pointer } from './format/pointer';
export { parseVersionDirName } from './format/layout';
export {
  parseSearchParameters,
  checkAnnSpec,
  FAISS_THREADING,
  applyFaissThreading,
  type SearchParameters,
  type AnnSpec,
} from './query/ann';
