export { sameModel, type ModelIdentity } from './model';
export {
  ITEM_ID_PATTERN,
  METADATA_KEY_PATTERN,
  METADATA_LIMITS,
  IMAGE_REF_LIMITS,
  isItemSource,
  type Metadata,
  type ItemSource,
} from './catalogue';
export {
  MAX_K,
  MAX_EXCLUDE,
  type Filter,
  type SearchOptions,
  type SearchHit,
  type RankedHit,
  type SearchRequest,
  type SearchOutcome,
} from './search';
export {
  POINTER_FILE,
  SNAPSHOTS_DIR,
  THUMBNAILS_DIR,
  SOURCES_DIR,
  thumbnailPath,
  thumbnailsDir,
  sourcesDir,
  pointerPath,
} from './layout';
